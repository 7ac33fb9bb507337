package topology

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// maxFuzzInput bounds the work per input: the parser's own limits (64 MiB,
// alias expansion) are tested elsewhere.
const maxFuzzInput = 32 << 10

// FuzzParse feeds arbitrary bytes to Parse and then Validate: neither may
// panic, every error is a *Error whose problems all have a message, every
// Parse problem has a line, and a lab that validates is resolved.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{
		filepath.Join("..", "labs", "*.yaml"),
		filepath.Join("testdata", "*.yaml"),
	} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, files...)
	}
	if len(seeds) == 0 {
		f.Fatal("no seed files")
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(""))
	f.Add([]byte("name: t\nnodes: {h1: {}}\n---\nname: u\n"))
	f.Add([]byte("name: t\nnodes: &a {h1: *a}\n"))
	f.Add([]byte(typedBomb(20)))
	f.Add([]byte("name: t\nnodes:\n  h1: {interfaces: {eth0: {mtu: big}}}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		l, err := Parse("fuzz.yaml", data)
		if err != nil {
			if l != nil {
				t.Fatal("Parse returned a lab and an error")
			}
			checkFuzzError(t, err, true)
			return
		}
		if l == nil {
			t.Fatal("Parse returned neither a lab nor an error")
		}
		warns, err := l.Validate(ValidateOptions{})
		for _, w := range warns {
			if w == nil || w.Msg == "" {
				t.Fatalf("warning without a message: %v", w)
			}
		}
		if err != nil {
			checkFuzzError(t, err, false)
			if l.Resolve() != nil {
				t.Fatal("an invalid lab was resolved")
			}
			return
		}
		topo := l.Resolve()
		if topo == nil {
			t.Fatal("a valid lab was not resolved")
		}
		if len(topo.Nodes) != len(l.Nodes) {
			t.Fatalf("%d nodes resolved from %d", len(topo.Nodes), len(l.Nodes))
		}
		for _, n := range topo.Nodes {
			if n.Netns != l.Name+"-"+n.Name || n.Iface("lo") == nil {
				t.Fatalf("node %s: netns %q, lo %v", n.Name, n.Netns, n.Iface("lo"))
			}
		}
	})
}

func checkFuzzError(t *testing.T, err error, parse bool) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want *topology.Error", err, err)
	}
	if len(e.Problems) == 0 {
		t.Fatal("*Error without problems")
	}
	for _, p := range e.Problems {
		if p == nil || p.Msg == "" {
			t.Fatalf("problem without a message: %v", p)
		}
		if p.File != "fuzz.yaml" {
			t.Fatalf("problem %s: file %q", p, p.File)
		}
		if parse && p.Line < 1 {
			t.Fatalf("parse problem without a line: %s", p)
		}
	}
}
