package e2e

import (
	"slices"
	"strings"
	"testing"
)

// completions runs `netlab __complete args...` and returns the candidates'
// words (descriptions dropped), the directive line removed.
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	r := mustNetlab(t, append([]string{"__complete"}, args...)...)
	var words []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(l, ":") {
			continue
		}
		w, _, _ := strings.Cut(l, "\t")
		words = append(words, w)
	}
	return words
}

// TestCompletionLive: shell completion of a lab brought up for real (with
// a suffix, so its name is not its file's): the lab among the running
// ones, its nodes, a node's interfaces as the kernel has them (netlab
// status), and the other nodes' addresses.
func TestCompletionLive(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLab(t, "labs/router.yaml", "complete")
	name := l.Name + "-c"
	t.Cleanup(func() { cleanupDown(t, name) })
	mustNetlab(t, "up", "--suffix", "c", "--wait", "0", l.File)

	if got := completions(t, "down", ""); !slices.Contains(got, name) {
		t.Errorf("__complete down: %q lacks %s", got, name)
	}
	if got := completions(t, "exec", name, ""); strings.Join(got, " ") != "h1 h2 r1" {
		t.Errorf("__complete exec %s: %q, want h1 h2 r1", name, got)
	}
	var st struct {
		Nodes []struct {
			Name       string
			Interfaces []struct{ Name string }
		} `json:"nodes_detail"`
	}
	decodeJSON(t, "status -o json", mustNetlab(t, "status", name, "-o", "json").stdout, &st)
	if len(st.Nodes) != 3 {
		t.Fatalf("status -o json: %d nodes, want 3", len(st.Nodes))
	}
	for _, n := range st.Nodes {
		var live []string
		for _, i := range n.Interfaces {
			live = append(live, i.Name)
		}
		got := completions(t, "capture", name, n.Name, "")
		slices.Sort(live)
		slices.Sort(got)
		if !slices.Equal(got, live) || len(got) < 2 {
			t.Errorf("__complete capture %s %s: %q; the kernel has %q", name, n.Name, got, live)
		}
	}
	got := completions(t, "ping", name, "h1", "")
	if !slices.Contains(got, "198.51.100.10") || !slices.Contains(got, "2001:db8:2::10") || slices.Contains(got, "192.0.2.10") {
		t.Errorf("__complete ping %s h1: %q, want h2's addresses and not h1's", name, got)
	}
}
