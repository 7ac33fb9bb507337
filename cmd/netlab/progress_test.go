package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/netlabdev/netlab/lab"
)

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressLine(&buf, "big")
	now := p.start
	p.now = func() time.Time { return now }
	// A lab that is up in a moment prints nothing, not even the erase.
	p.update(lab.Progress{Done: 5, Total: 100, Stage: "namespaces"})
	if buf.Len() != 0 {
		t.Fatalf("progress before %v: %q", progressDelay, buf.String())
	}
	now = now.Add(progressDelay)
	p.update(lab.Progress{Done: 10, Total: 100, Stage: "namespaces"})
	if got := buf.String(); !strings.Contains(got, "\r\033[Kup big:  10% 10/100 operations (namespaces)") {
		t.Fatalf("first line %q", got)
	}
	// Redraws are rate-limited, except the final one.
	n := buf.Len()
	now = now.Add(progressEvery / 2)
	p.update(lab.Progress{Done: 20, Total: 100, Stage: "veth pairs"})
	if buf.Len() != n {
		t.Errorf("redrawn within %v: %q", progressEvery, buf.String()[n:])
	}
	p.update(lab.Progress{Done: 100, Total: 100, Stage: "done"})
	if !strings.Contains(buf.String()[n:], "100% 100/100") {
		t.Errorf("final state not drawn: %q", buf.String()[n:])
	}
	p.finish()
	if !strings.HasSuffix(buf.String(), "\r\033[K") {
		t.Errorf("line not erased: %q", buf.String())
	}
}

func TestNameList(t *testing.T) {
	var names []string
	for i := range 25 {
		names = append(names, "n"+strings.Repeat("x", i%3))
	}
	if got := nameList(names[:20]); strings.Contains(got, "more") || len(strings.Fields(got)) != 20 {
		t.Errorf("20 names shortened: %q", got)
	}
	if got := nameList(names); !strings.HasSuffix(got, "... (15 more; -o json lists all)") || len(strings.Fields(got)) != 10+7 {
		t.Errorf("25 names: %q", got)
	}
}
