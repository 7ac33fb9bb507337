package scenario

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netlabdev/netlab/topology"
)

func sampleReport() *Report {
	rep := &Report{Lab: "arp-aging", RunID: "abc", Kernel: "6.18.0", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), DurationMS: 4321,
		Steps: []StepResult{
			{Index: 1, Name: "one ping", Kind: "ping", Verdict: Pass, DurationMS: 3, Message: "1 transmitted, 1 received, 0% loss"},
			{Index: 2, Name: `a "quoted" <name> & more`, Kind: "wait", Verdict: Fail, DurationMS: 7000,
				Message: "expected h1 neighbor 192.0.2.2 state DELAY within 7s; observed STALE dev eth0", Timeline: []string{"0.004s h1 eth0 192.0.2.2 ABSENT -> REACHABLE"}},
			{Index: 3, Name: "exec", Kind: "exec", Verdict: Error, Message: "node h1: exec: no such file", Output: "x\x01y"},
			{Index: 4, Name: "later", Kind: "sleep", Verdict: Skipped, Message: "skipped: an earlier step failed"},
		}}
	rep.tally()
	return rep
}

func TestTally(t *testing.T) {
	rep := sampleReport()
	if rep.Passed || rep.Tests != 4 || rep.Failures != 1 || rep.Errors != 1 || rep.Skipped != 1 {
		t.Errorf("tally: %+v", rep)
	}
	rep.Steps = rep.Steps[:1]
	rep.tally()
	if !rep.Passed {
		t.Errorf("one passing step: not passed")
	}
}

// junitAllowed is the JUnit XSD's structure (the common "JUnit.xsd" of
// Ant/Maven Surefire): for each element, its required and optional
// attributes and its allowed children.
var junitAllowed = map[string]struct {
	required, optional, children []string
}{
	"testsuite": {required: []string{"name", "tests", "failures", "errors", "time"},
		optional: []string{"skipped", "timestamp", "hostname", "id", "package"},
		children: []string{"properties", "testcase", "system-out", "system-err"}},
	"properties": {children: []string{"property"}},
	"property":   {required: []string{"name", "value"}},
	"testcase":   {required: []string{"name", "classname", "time"}, children: []string{"failure", "error", "skipped", "system-out", "system-err"}},
	"failure":    {required: []string{"message", "type"}},
	"error":      {required: []string{"message", "type"}},
	"skipped":    {optional: []string{"message"}},
	"system-out": {},
	"system-err": {},
}

func has(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestJUnitShape checks junit.xml against the JUnit XSD's structure:
// elements, required attributes, numeric counts and times, and counts
// that agree with the test cases.
func TestJUnitShape(t *testing.T) {
	b, err := sampleReport().JUnit()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(xml.Header)) {
		t.Errorf("no XML header")
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []string
	counts := map[string]int{}
	var suite map[string]string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			name := el.Name.Local
			spec, ok := junitAllowed[name]
			if !ok {
				t.Fatalf("element %s not in the schema", name)
			}
			if len(stack) == 0 && name != "testsuite" {
				t.Fatalf("root is %s, want testsuite", name)
			}
			if len(stack) > 0 && !has(junitAllowed[stack[len(stack)-1]].children, name) {
				t.Errorf("%s inside %s", name, stack[len(stack)-1])
			}
			attrs := map[string]string{}
			for _, a := range el.Attr {
				if !has(spec.required, a.Name.Local) && !has(spec.optional, a.Name.Local) {
					t.Errorf("%s@%s not in the schema", name, a.Name.Local)
				}
				attrs[a.Name.Local] = a.Value
			}
			for _, r := range spec.required {
				if _, ok := attrs[r]; !ok {
					t.Errorf("%s lacks required @%s", name, r)
				}
			}
			for _, k := range []string{"tests", "failures", "errors", "skipped"} {
				if v, ok := attrs[k]; ok {
					if _, err := strconv.Atoi(v); err != nil {
						t.Errorf("%s@%s = %q: not an integer", name, k, v)
					}
				}
			}
			if v, ok := attrs["time"]; ok {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					t.Errorf("%s@time = %q: not a decimal", name, v)
				}
			}
			if name == "testsuite" {
				suite = attrs
			}
			if name == "failure" && !strings.Contains(attrs["message"], "observed STALE") {
				t.Errorf("failure@message = %q", attrs["message"])
			}
			counts[name]++
			stack = append(stack, name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	want := map[string]int{"testcase": 4, "failure": 1, "error": 1, "skipped": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("%d %s elements, want %d", counts[k], k, v)
		}
	}
	if suite["tests"] != "4" || suite["failures"] != "1" || suite["errors"] != "1" || suite["skipped"] != "1" || suite["time"] != "4.321" || suite["name"] != "arp-aging" {
		t.Errorf("testsuite attributes: %v", suite)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	rep := sampleReport()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"lab", "run_id", "started", "kernel", "steps", "neigh_params", "passed", "duration_ms"} {
		if _, ok := m[k]; !ok && k != "neigh_params" {
			t.Errorf("report.json lacks %s", k)
		}
	}
	steps := m["steps"].([]any)
	s1 := steps[1].(map[string]any)
	if s1["verdict"] != "FAIL" || s1["timeline"] == nil || s1["duration_ms"].(float64) != 7000 {
		t.Errorf("step 2 in JSON: %v", s1)
	}
	if _, err := os.Stat(filepath.Join(dir, JUnitFile)); err != nil {
		t.Error(err)
	}
}

func TestStepNames(t *testing.T) {
	one := 1
	v := topology.Value("5")
	cases := []struct {
		s    topology.Step
		want string
	}{
		{topology.Step{Name: "mine", Sleep: &topology.Duration{Duration: time.Second}}, "mine"},
		{topology.Step{Ping: &topology.PingStep{From: "h1", To: "192.0.2.2", Count: &one}}, "ping h1 -> 192.0.2.2"},
		{topology.Step{Wait: &topology.Condition{Node: "h1", Neighbor: "192.0.2.2", State: topology.States{"stale"}}}, "wait h1 neighbor 192.0.2.2 state STALE"},
		{topology.Step{Expect: &topology.Condition{Node: "h1", Neighbor: "192.0.2.2", Absent: true}}, "expect h1 neighbor 192.0.2.2 absent"},
		{topology.Step{Expect: &topology.Condition{Node: "h1", Route: &topology.RouteQuery{To: "203.0.113.7"}, Via: "192.0.2.2", Dev: "eth0"}}, "expect h1 route to 203.0.113.7 via 192.0.2.2, dev eth0"},
		{topology.Step{Expect: &topology.Condition{Node: "h1", Sysctl: "net.ipv4.ip_forward", Value: &v}}, "expect h1 sysctl net.ipv4.ip_forward value 5"},
		{topology.Step{Neigh: &topology.NeighStep{Node: "h1", Action: "flush", Dev: "eth0"}}, "neigh h1 flush eth0"},
		{topology.Step{Exec: &topology.ExecStep{Node: "h3", Cmd: []string{"ip", "-j", "neigh"}}}, "exec h3 ip -j neigh"},
		{topology.Step{Link: &topology.LinkStep{Node: "h1", Dev: "eth0", State: "DOWN"}}, "link h1 eth0 down"},
		{topology.Step{Firewall: &topology.FirewallStep{Node: "h2", Flush: true}}, "firewall h2 flush"},
		{topology.Step{Arping: &topology.ArpingStep{From: "h2", To: "192.0.2.2"}}, "arping h2 request 192.0.2.2"},
	}
	for _, c := range cases {
		if got := stepName(&c.s); got != c.want {
			t.Errorf("stepName = %q, want %q", got, c.want)
		}
	}
}

func TestLimitedBuffer(t *testing.T) {
	b := &limitedBuffer{max: 5}
	for _, s := range []string{"abc", "defg", "h"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if b.buf.String() != "abcde" || !b.truncated {
		t.Errorf("got %q truncated=%v", b.buf.String(), b.truncated)
	}
}
