package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIDocs: docs/cli and docs/man are the reference generated from
// today's command tree, so a changed flag or help text fails here until
// the reference is regenerated.
func TestCLIDocs(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NETLAB_") {
			t.Setenv(k, "") // built-in defaults, as gendocs documents them
		}
	}
	fresh := t.TempDir()
	if err := genDocs(fresh); err != nil {
		t.Fatal(err)
	}
	repoDocs := filepath.Join("..", "..", "docs")
	for _, sub := range []string{"cli", "man"} {
		want := readDir(t, filepath.Join(fresh, sub))
		got := readDir(t, filepath.Join(repoDocs, sub))
		if len(want) < 10 {
			t.Fatalf("gendocs wrote only %d files in %s", len(want), sub)
		}
		for name, w := range want {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("docs/%s/%s is missing: regenerate the CLI reference with `%s` (from the repository root)", sub, name, regenDocs)
			case g != w:
				t.Errorf("docs/%s/%s is out of date: regenerate the CLI reference with `%s` (from the repository root)", sub, name, regenDocs)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("docs/%s/%s documents no command: regenerate the CLI reference with `%s` (from the repository root)", sub, name, regenDocs)
			}
		}
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
