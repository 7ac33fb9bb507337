package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets scripts run `netlab`: testscript puts a copy of this test
// binary named netlab on $PATH, and that copy runs main's run().

// updateScripts rewrites the files a script compares stdout with (cmp):
// go test ./cmd/netlab -run TestScripts -update-scripts
var updateScripts = flag.Bool("update-scripts", false, "rewrite testscript cmp files from the actual output")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"netlab": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar. Every script uses only commands
// that need no privileges (validate, up --dry-run, help, usage errors) and a
// private state directory, so it runs as any user and touches no kernel
// object.
//
// Besides the standard commands, scripts may use
//
//	exitcode N command [args...]
//
// which runs command like exec and fails unless it exits with status N
// (stdout and stderr are then checked as after exec).
func TestScripts(t *testing.T) {
	labs, err := filepath.Abs(filepath.Join("..", "..", "labs"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           filepath.Join("testdata", "script"),
		UpdateScripts: *updateScripts,
		Setup: func(env *testscript.Env) error {
			env.Setenv("LABS", labs)
			env.Setenv("NETLAB_STATE_DIR", filepath.Join(env.WorkDir, "state"))
			env.Setenv("NETLAB_PATH", "")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
		},
		RequireExplicitExec: true,
	})
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode (give the expected status instead)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// TestExitCodeHelper makes sure the exitcode command can fail: a script
// expecting the wrong status must not pass.
func TestExitCodeHelper(t *testing.T) {
	for _, c := range []struct {
		code string
		ok   bool
	}{{"2", true}, {"0", false}, {"1", false}} {
		ft := &recordT{}
		testscript.RunT(ft, testscript.Params{
			Files: []string{writeScript(t, "exitcode "+c.code+" netlab validate\n")},
			Cmds:  map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": cmdExitCode},
		})
		if ft.failed == c.ok {
			t.Errorf("exitcode %s for a usage error (status 2): script failed = %v, want %v", c.code, ft.failed, !c.ok)
		}
	}
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.txtar")
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// recordT is a testscript.T that records failure instead of failing.
type recordT struct{ failed bool }

func (r *recordT) Skip(...any)                           {}
func (r *recordT) Fatal(...any)                          { r.failed = true; panic(stopScript{}) }
func (r *recordT) Parallel()                             {}
func (r *recordT) Log(...any)                            {}
func (r *recordT) FailNow()                              { r.failed = true; panic(stopScript{}) }
func (r *recordT) Run(name string, f func(testscript.T)) { runCatching(r, f) }
func (r *recordT) Verbose() bool                         { return false }

type stopScript struct{}

func runCatching(r *recordT, f func(testscript.T)) {
	defer func() {
		if e := recover(); e != nil {
			if _, ok := e.(stopScript); !ok {
				panic(e)
			}
		}
	}()
	f(r)
}
