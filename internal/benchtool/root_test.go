package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as the sandbox's init, as benchtool
// does (sandboxCommand re-executes os.Executable()).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandboxArg {
		os.Exit(sandboxMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func randName(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "benchtest" + hex.EncodeToString(b)
}

// What runs in the sandbox cannot change a global sysctl, sees no host
// link, writes to a private /tmp, and leaves no process behind.
func TestSandbox(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(argv ...string) (string, error) {
		cmd, err := sandboxCommand(ctx, argv...)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		return out.String(), err
	}

	cur, err := os.ReadFile("/proc/sys/kernel/pty/max")
	if err != nil {
		t.Fatal(err)
	}
	// Writing the current value back would be harmless if it got through.
	if out, err := run("sh", "-c", "echo "+strings.TrimSpace(string(cur))+" > /proc/sys/kernel/pty/max"); err == nil {
		t.Errorf("a global sysctl was writable in the sandbox: %s", out)
	}

	out, err := run("ip", "-o", "link", "show")
	if err != nil {
		t.Fatalf("ip link in the sandbox: %v: %s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], " lo:") {
		t.Errorf("the sandbox sees links other than its own lo:\n%s", out)
	}
	// /sys is the sandbox's network namespace's: only lo under class/net.
	if out, err := run("ls", "/sys/class/net"); err != nil || strings.TrimSpace(out) != "lo" {
		t.Errorf("/sys/class/net in the sandbox: %q, %v", out, err)
	}

	name := randName(t)
	probe := filepath.Join("/tmp", name)
	if out, err := run("touch", probe); err != nil {
		t.Fatalf("touch in the sandbox: %v: %s", err, out)
	}
	if _, err := os.Stat(probe); err == nil {
		os.Remove(probe)
		t.Error("a file made in the sandbox's /tmp is in the host's /tmp")
	}

	// A background process is killed with the sandbox's init.
	marker := "299." + strings.TrimPrefix(name, "benchtest")[:3]
	if out, err := run("sh", "-c", "sleep "+marker+" >/dev/null 2>&1 & exit 0"); err != nil {
		t.Fatalf("sh in the sandbox: %v: %s", err, out)
	}
	time.Sleep(100 * time.Millisecond)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), marker) {
			t.Errorf("process %s (sleep %s) outlived the sandbox", p, marker)
		}
	}

	// The exit status comes through.
	if _, err := run("sh", "-c", "exit 7"); err == nil || !strings.Contains(err.Error(), "7") {
		t.Errorf("exit 7 in the sandbox: %v", err)
	}
}

// kernelSync.wait returns once a deleted namespace is destroyed, and its
// probes leave nothing behind.
func TestKernelSync(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prefix := randName(t) + "-probe"
	ks, err := newKernelSync(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	ns := randName(t)
	if err := exec2(ctx, "ip", "netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	if err := exec2(ctx, "ip", "netns", "del", ns); err != nil {
		t.Fatal(err)
	}
	d, err := ks.wait(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel done after %s", d)
	if left, err := namespacesWithPrefix(prefix); err != nil || len(left) > 0 {
		t.Errorf("probes left: %v %v", left, err)
	}
	if ks.seq != 2 {
		t.Errorf("%d probes, want 2", ks.seq)
	}
	ks.Close()
	ks.Close()
}
