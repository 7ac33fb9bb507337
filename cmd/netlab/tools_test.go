package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestBuildVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/netlabdev/netlab", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	v := buildVersion(bi, true)
	want := versionInfo{Module: "github.com/netlabdev/netlab", Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567",
		Time: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.99.1", Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if v != want {
		t.Errorf("buildVersion = %+v, want %+v", v, want)
	}
	if got, want := v.short(), "netlab v1.2.3 (commit 0123456789ab, modified, 2026-01-02T03:04:05Z; go1.99.1 "+want.Platform+")"; got != want {
		t.Errorf("short = %q, want %q", got, want)
	}
	none := buildVersion(nil, false)
	if none.Version != "(unknown)" || none.GoVersion != runtime.Version() || none.Commit != "" {
		t.Errorf("buildVersion without build info = %+v", none)
	}
}

func TestVersionCommand(t *testing.T) {
	out, errs, code := runCLI(t, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("version -o json: exit %d: %s", code, errs)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	bi, _ := debug.ReadBuildInfo()
	if v["go_version"] != bi.GoVersion || v["module"] != bi.Main.Path || v["version"] != bi.Main.Version {
		t.Errorf("version -o json = %v; build info says %s %s %s", v, bi.GoVersion, bi.Main.Path, bi.Main.Version)
	}
	out, _, code = runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "netlab "+bi.Main.Version+"\n") || !strings.Contains(out, "go:      "+bi.GoVersion) {
		t.Errorf("version: exit %d:\n%s", code, out)
	}
	out, _, code = runCLI(t, "--version")
	if code != 0 || out != buildVersion(bi, true).short()+"\n" {
		t.Errorf("--version: exit %d: %q", code, out)
	}
	if _, _, code = runCLI(t, "version", "extra"); code != exitInvalid {
		t.Errorf("version extra: exit %d, want %d", code, exitInvalid)
	}
	// -v stays --verbose.
	if _, errs, code = runCLI(t, "-v", "version"); code != 0 {
		t.Errorf("-v version: exit %d: %s", code, errs)
	}
}

func TestGraphCommand(t *testing.T) {
	labs, err := filepath.Abs(filepath.Join("..", "..", "labs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NETLAB_PATH", labs)
	out, errs, code := runCLI(t, "graph", "router")
	if code != 0 || !strings.Contains(out, "graph \"router\" {") || !strings.Contains(out, `"r1" [shape=cylinder`) {
		t.Errorf("graph router: exit %d: %s\n%s", code, errs, out)
	}
	dot, _, _ := runCLI(t, "graph", filepath.Join(labs, "router.yaml"), "-o", "dot")
	if dot != out {
		t.Errorf("graph by path -o dot differs from graph by NAME (-o text)")
	}
	out, _, code = runCLI(t, "graph", "router", "-o", "mermaid")
	if code != 0 || !strings.Contains(out, "flowchart LR\n") || !strings.Contains(out, `n_r1[("<b>r1</b> router")]`) {
		t.Errorf("graph -o mermaid: exit %d:\n%s", code, out)
	}
	out, _, code = runCLI(t, "graph", "router", "-o", "json")
	var g struct {
		Lab   string
		Nodes []struct{ Name, Kind string }
		Links []struct {
			A, B struct{ Node, Interface string }
		}
	}
	if err := json.Unmarshal([]byte(out), &g); code != 0 || err != nil || g.Lab != "router" || len(g.Nodes) != 3 || len(g.Links) != 2 || g.Links[0].B.Interface != "eth0" {
		t.Errorf("graph -o json: exit %d, %v: %+v", code, err, g)
	}
	for _, args := range [][]string{{"graph", "router", "-o", "jsonl"}, {"graph"}, {"graph", "nosuchlab"}, {"validate", "router", "-o", "dot"}} {
		if _, _, code := runCLI(t, args...); code != exitInvalid {
			t.Errorf("%q: exit %d, want %d", args, code, exitInvalid)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nnodes: {a: {}}\nlinks: [{endpoints: [a:eth0, b:eth0]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := runCLI(t, "graph", bad); code != exitInvalid || !strings.Contains(errs, "unknown node") {
		t.Errorf("graph of an invalid lab: exit %d: %s", code, errs)
	}
}

// TestGraphSVG: with dot installed, an SVG; without it, exit 3 saying how
// to install it. Both ways are checked whatever this machine has.
func TestGraphSVG(t *testing.T) {
	labs, _ := filepath.Abs(filepath.Join("..", "..", "labs"))
	file := filepath.Join(labs, "switch.yaml")
	if _, err := exec.LookPath("dot"); err == nil {
		out, errs, code := runCLI(t, "graph", file, "-o", "svg")
		if code != 0 || !strings.Contains(out, "<svg") || !strings.Contains(out, "<title>sw</title>") {
			t.Errorf("graph -o svg: exit %d: %s\n%.300s", code, errs, out)
		}
	}
	t.Setenv("PATH", t.TempDir())
	out, errs, code := runCLI(t, "graph", file, "-o", "svg")
	if code != exitEnv || out != "" || !strings.Contains(errs, "scripts/setup --graphviz") {
		t.Errorf("graph -o svg without dot: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
