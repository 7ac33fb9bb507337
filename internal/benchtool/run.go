package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// netnsDir is where named namespaces live (`ip netns`, netlab).
const netnsDir = "/run/netns"

// runProc runs argv to completion and measures it: wall time, and user+sys
// CPU and peak RSS from its rusage. Its stdout and stderr are returned
// together; an error carries their tail. A cancelled ctx sends SIGTERM
// (netlab rolls back on it), then SIGKILL 30 s later.
func runProc(ctx context.Context, cmd *exec.Cmd) (sample, []byte, error) {
	var out bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &out
	}
	if cmd.Cancel == nil {
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
	}
	start := time.Now()
	err := cmd.Run()
	s := sample{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		s.CPU, s.MaxRSS = usage(cmd.ProcessState)
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return s, out.Bytes(), fmt.Errorf("%s: %w%s", strings.Join(cmd.Args, " "), err, tail(out.Bytes()))
	}
	return s, out.Bytes(), nil
}

// command is exec.CommandContext with the cancellation runProc expects.
func command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// usage is a finished process's user+sys CPU time and peak RSS in bytes
// (rusage, which includes the children it waited for).
func usage(ps *os.ProcessState) (time.Duration, int64) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return ps.UserTime() + ps.SystemTime(), 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss * 1024
}

// tail is the last lines of a command's output, for error messages.
func tail(out []byte) string {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return ""
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "\n    " + strings.Join(lines, "\n    ")
}

// namespacesWithPrefix lists the named namespaces whose names start with
// prefix.
func namespacesWithPrefix(prefix string) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// existing is the subset of names that exist as named namespaces.
func existing(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		_, err := os.Lstat(filepath.Join(netnsDir, n))
		switch {
		case err == nil:
			out = append(out, n)
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("namespace %s: %w", n, err)
		}
	}
	return out, nil
}

// procCPU is the user+sys time a live process has used so far, from
// /proc/PID/stat (clock ticks of USER_HZ, 100 on Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime+stime from a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are
// counted after its closing parenthesis.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ... utime(14) stime(15): indexes 11 and 12.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %q: too few fields", b)
	}
	const userHZ = 100
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat field %q: %w", s, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// helpLists reports whether a cobra --help text documents flag ("-q" or
// "--wait") in its flag column (lines like "  -q, --quiet   ..." or
// "      --wait duration   ..."), not merely mentions it in prose.
func helpLists(help []byte, flag string) bool {
	for _, line := range strings.Split(string(help), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		if strings.TrimSuffix(f[0], ",") == flag {
			return true
		}
		if strings.HasSuffix(f[0], ",") && len(f) > 1 && f[1] == flag {
			return true
		}
	}
	return false
}
