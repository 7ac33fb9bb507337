package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/internal/state"
)

// complete runs `netlab __complete args...` in process and returns the
// candidates' words (descriptions dropped) and the directive.
func complete(t *testing.T, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append([]string{"__complete"}, args...), &out, &errb); code != 0 {
		t.Fatalf("__complete %q: exit %d: %s", args, code, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	d, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if err != nil || !strings.HasPrefix(last, ":") {
		t.Fatalf("__complete %q: no directive line in %q", args, out.String())
	}
	words := []string{}
	for _, l := range lines[:len(lines)-1] {
		w, _, _ := strings.Cut(l, "\t")
		words = append(words, w)
	}
	return words, cobra.ShellCompDirective(d)
}

// fakeLabs makes a state directory with two labs' snapshots, as up writes
// them (no namespaces exist: completion reads only the state): sw-x from
// labs/switch.yaml, and gone-x whose lab file is gone. It changes into a
// directory holding one lab file and one subdirectory, with NETLAB_PATH
// set to the repository's labs.
func fakeLabs(t *testing.T) (stateDir string) {
	t.Helper()
	repoLabs, err := filepath.Abs(filepath.Join("..", "..", "labs"))
	if err != nil {
		t.Fatal(err)
	}
	stateDir = t.TempDir()
	st := state.New(stateDir)
	ns := func(lab string, nodes ...string) []state.Namespace {
		var out []state.Namespace
		for _, n := range nodes {
			out = append(out, state.Namespace{Node: n, Name: lab + "-" + n})
		}
		return out
	}
	for _, s := range []*state.Snapshot{
		{Lab: "sw-x", File: filepath.Join(repoLabs, "switch.yaml"), Phase: "up", Namespaces: ns("sw-x", "sw", "h1", "h2", "h3"),
			Links: []state.LinkRecord{{A: "h1:eth0", B: "sw:p1"}, {A: "h2:eth0", B: "sw:p2"}, {A: "h3:eth0", B: "sw:p3"}}},
		{Lab: "gone-x", File: filepath.Join(t.TempDir(), "gone.yaml"), Phase: "failed", Namespaces: ns("gone-x", "a", "b"),
			Links: []state.LinkRecord{{A: "a:eth0", B: "b:eth9"}, {A: "b:eth1", B: "a:eth1"}}},
	} {
		if err := st.Save(s); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	for _, d := range []string{"sub", ".hidden"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "mine.yaml"), []byte("name: mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	t.Setenv("NETLAB_PATH", repoLabs)
	t.Setenv("NETLAB_STATE_DIR", stateDir)
	return stateDir
}

func TestCompleteNames(t *testing.T) {
	fakeLabs(t)
	otherState := t.TempDir()
	if err := state.New(otherState).Save(&state.Snapshot{Lab: "other-x", Phase: "up"}); err != nil {
		t.Fatal(err)
	}
	const (
		noFile = cobra.ShellCompDirectiveNoFileComp
		dflt   = cobra.ShellCompDirectiveDefault
	)
	for _, tc := range []struct {
		args []string
		want string // words, space-separated
		dir  cobra.ShellCompDirective
	}{
		// lab files: NAMEs (NETLAB_PATH, ./labs), .yaml files here; directories once a word is begun
		{[]string{"up", ""}, "arp-aging-fw arp-aging-gc arp-aging-tcp arp-aging bridge-ageing bridge-host contract local-drop policy-uplinks router rp-filter shaped switch veth-pair vip-failover mine.yaml", noFile},
		{[]string{"validate", "s"}, "shaped switch sub/", noFile},
		{[]string{"graph", "su"}, "sub/", noFile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"run", "sub/"}, "yaml yml", cobra.ShellCompDirectiveFilterFileExt},
		{[]string{"run", "."}, ".hidden/", noFile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"up", "switch", ""}, "", noFile},
		// running labs, from the state directory; --state-dir wins over the environment
		{[]string{"down", ""}, "gone-x sw-x", noFile},
		{[]string{"status", "s"}, "sw-x", noFile},
		{[]string{"--state-dir", otherState, "down", ""}, "other-x", noFile},
		{[]string{"cleanup", "gone-x", ""}, "sw-x", noFile},
		// nodes, from the snapshot
		{[]string{"exec", "sw-x", ""}, "h1 h2 h3 sw", noFile},
		{[]string{"exec", "sw-x", "h"}, "h1 h2 h3", noFile},
		{[]string{"exec", "sw-x", "h1", ""}, "", dflt},
		{[]string{"exec", "nope", ""}, "", noFile},
		{[]string{"exec", "../x", ""}, "", noFile},
		{[]string{"ping", "gone-x", ""}, "a b", noFile},
		// interfaces: from the lab file; without it, the snapshot's veth ends
		{[]string{"capture", "sw-x", "sw", ""}, "lo p1 p2 p3 br0", noFile},
		{[]string{"capture", "sw-x", "h2", "e"}, "eth0", noFile},
		{[]string{"capture", "gone-x", "a", ""}, "lo eth0 eth1", noFile},
		{[]string{"capture", "gone-x", "b", ""}, "lo eth9 eth1", noFile},
		{[]string{"capture", "sw-x", "h1", "eth0", ""}, "", noFile},
		{[]string{"ping", "sw-x", "h1", "-I", ""}, "lo eth0", noFile},
		{[]string{"arping", "sw-x", "h3", "--interface", ""}, "lo eth0", noFile},
		{[]string{"route", "sw-x", "h2", "get", "192.0.2.1", "--oif", ""}, "lo eth0", noFile},
		{[]string{"neigh", "sw-x", "sw", "--dev", "p"}, "p1 p2 p3", noFile},
		{[]string{"neigh", "sw-x", "h1", "params", ""}, "lo eth0", noFile},
		// addresses of the other nodes
		{[]string{"ping", "sw-x", "h1", ""}, "192.0.2.2 2001:db8::2 192.0.2.3 2001:db8::3", noFile},
		{[]string{"arping", "sw-x", "h3", "192"}, "192.0.2.1 192.0.2.2", noFile},
		{[]string{"route", "sw-x", "h1", "get", "2001"}, "2001:db8::1 2001:db8::2 2001:db8::3", noFile},
		{[]string{"route", "sw-x", "h1", ""}, "get", noFile},
		{[]string{"route", "sw-x", "h1", "--table", ""}, "main local default", noFile},
		// neigh's grammar
		{[]string{"neigh", ""}, "gone-x sw-x watch", noFile},
		{[]string{"neigh", "sw-x", "h1", ""}, "add set del flush use params", noFile},
		{[]string{"neigh", "watch", ""}, "gone-x sw-x", noFile},
		{[]string{"neigh", "watch", "sw-x", "h1", ""}, "h2 h3 sw", noFile},
		{[]string{"neigh", "watch", "sw-x", "--dev", ""}, "", noFile},
		// -o by command
		{[]string{"graph", "-o", ""}, "dot mermaid svg json", noFile},
		{[]string{"neigh", "-o", "j"}, "json jsonl", noFile},
		{[]string{"status", "-o", ""}, "text json", noFile},
	} {
		words, dir := complete(t, tc.args...)
		if got := strings.Join(words, " "); got != tc.want || dir != tc.dir {
			t.Errorf("__complete %q = %q, directive %d; want %q, directive %d", tc.args, got, dir, tc.want, tc.dir)
		}
	}
}

// TestCompleteDescriptions: candidates say what they are.
func TestCompleteDescriptions(t *testing.T) {
	fakeLabs(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"capture", "sw-x", "h1", ""}, "eth0\tveth 192.0.2.1/24 2001:db8::1/64\n"},
		{[]string{"exec", "sw-x", ""}, "sw\tbridge\n"},
		{[]string{"down", ""}, "gone-x\tfailed "},
		{[]string{"ping", "sw-x", "h1", ""}, "2001:db8::3\th3:eth0\n"},
		{[]string{"up", "sw"}, "switch\t"},
	} {
		var out bytes.Buffer
		run(context.Background(), append([]string{"__complete"}, tc.args...), &out, &bytes.Buffer{})
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("__complete %q lacks %q:\n%s", tc.args, tc.want, out.String())
		}
	}
}

// TestCompletionScripts: cobra's completion command writes a script for
// each shell, and the shells that are installed accept its syntax.
func TestCompletionScripts(t *testing.T) {
	for _, tc := range []struct{ shell, marker string }{
		{"bash", "__start_netlab"},
		{"zsh", "#compdef netlab"},
		{"fish", "complete -c netlab"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"completion", tc.shell}, &out, &errb); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", tc.shell, code, errb.String())
		}
		if !strings.Contains(out.String(), tc.marker) || !strings.Contains(out.String(), "__complete") {
			t.Errorf("completion %s: no %q calling __complete in:\n%.300s", tc.shell, tc.marker, out.String())
		}
		sh, err := exec.LookPath(tc.shell)
		if err != nil {
			continue // the script's text is checked; its shell is not here to parse it
		}
		f := filepath.Join(t.TempDir(), "netlab."+tc.shell)
		if err := os.WriteFile(f, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(sh, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n on the %s completion script: %v\n%s", tc.shell, tc.shell, err, b)
		}
	}
}
