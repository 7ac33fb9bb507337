package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// sandboxArg, as the first argument, makes benchtool the sandbox's init
// (see sandboxMain) instead of the bench.
const sandboxArg = "__bench_sandbox"

// sandboxCommand runs argv in a throwaway sandbox: new network, mount and
// pid namespaces, so that what Mininet does machine-wide stays inside:
//   - its "root namespace" switches and links live in a network namespace
//     that dies with the sandbox, never in the host's;
//   - /proc/sys is read-only, so its fixLimits() changes no sysctl (some,
//     such as kernel.pty.max, are global; Mininet gives up at the first
//     write that fails and goes on);
//   - its cleanup-on-error (killall by process name, `rm -f /tmp/*.log`,
//     deleting every link named like foo-ethN) sees only the sandbox's
//     processes, a private tmpfs /tmp and the sandbox's links.
//
// When the sandbox's init exits, the kernel kills every process left in it
// and its namespaces go away with them: nothing survives a run. If the bench
// dies, the sandbox gets SIGKILL (Pdeathsig).
func sandboxCommand(ctx context.Context, argv ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{sandboxArg, "--"}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	// Killing the init kills the whole sandbox.
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return cmd, nil
}

// sandboxMain is the sandbox's init (pid 1 of its pid namespace): it makes
// the mounts private, mounts a /proc of the new pid namespace with /proc/sys
// read-only, a /sys of the new network namespace and a tmpfs on /tmp, then
// runs argv and exits with its status.
func sandboxMain(argv []string) int {
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "sandbox: nothing to run")
		return 2
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "sandbox: not the init of a new pid namespace; refusing to mount anything")
		return 3
	}
	if err := sandboxMounts(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		return 3
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "sandbox: %s: %v\n", argv[0], err)
		return 1
	}
}

func sandboxMounts() error {
	steps := []struct {
		what                 string
		src, target, fstype  string
		flags                uintptr
		data                 string
		unmountFirst, bindRO bool
	}{
		{what: "make mounts private", target: "/", flags: unix.MS_REC | unix.MS_PRIVATE},
		{what: "mount proc", src: "proc", target: "/proc", fstype: "proc", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{what: "make /proc/sys read-only", src: "/proc/sys", target: "/proc/sys", bindRO: true},
		{what: "mount sysfs", src: "sysfs", target: "/sys", fstype: "sysfs", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, unmountFirst: true},
		{what: "mount tmpfs on /tmp", src: "tmpfs", target: "/tmp", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV, data: "size=64m,mode=1777"},
	}
	for _, s := range steps {
		if s.unmountFirst {
			if err := unix.Unmount(s.target, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("%s: unmount %s: %w", s.what, s.target, err)
			}
		}
		if s.bindRO {
			if err := unix.Mount(s.src, s.target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("%s: bind: %w", s.what, err)
			}
			if err := unix.Mount("", s.target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("%s: remount: %w", s.what, err)
			}
			continue
		}
		if err := unix.Mount(s.src, s.target, s.fstype, s.flags, s.data); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}
