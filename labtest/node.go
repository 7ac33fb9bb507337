package labtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/probe"
	"github.com/netlabdev/netlab/topology"
)

// mustPingTimeout is how long MustPing and MustArping wait for the answer
// to their one probe.
const mustPingTimeout = 2 * time.Second

// Node is one node of a running lab. Its methods are safe for concurrent
// use; each opens the node's namespace (checking netlab's ownership marker)
// and closes it again.
type Node struct {
	lab   *Lab
	name  string
	netns string // "" for a node the lab lacks
}

// Name is the node's name in the lab file.
func (n *Node) Name() string { return n.name }

// Namespace is the node's network namespace name (<lab>-<node>), as `ip
// netns` lists it; "" for a node the lab lacks.
func (n *Node) Namespace() string { return n.netns }

// OpenNS opens the node's network namespace after checking it is the one
// netlab made for this lab; the caller closes the handle. Use it for what
// labtest does not wrap, e.g. netlink.NewHandleAt or probe.TCPFlow.
func (n *Node) OpenNS() (netns.NsHandle, error) {
	if n.netns == "" {
		return netns.None(), n.lab.unknownNode(n.name)
	}
	ns, err := lab.OpenNode(n.lab.name, n.name, n.lab.opts)
	if err != nil {
		return netns.None(), fmt.Errorf("lab %s: node %s: %w", n.lab.name, n.name, err)
	}
	return ns, nil
}

// errorf wraps err with the lab, the node and the object.
func (n *Node) errorf(object string, err error) error {
	return fmt.Errorf("lab %s: node %s: %s: %w", n.lab.name, n.name, object, err)
}

// withNS runs fn with the node's namespace open.
func (n *Node) withNS(ctx context.Context, object string, fn func(ns netns.NsHandle) error) error {
	if err := ctx.Err(); err != nil {
		return n.errorf(object, err)
	}
	ns, err := n.OpenNS()
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := fn(ns); err != nil {
		return n.errorf(object, err)
	}
	return nil
}

// nsCall runs fn in the node's namespace (see withNS) and returns its
// value, also when it comes with an error (a probe's result so far).
func nsCall[T any](ctx context.Context, n *Node, object string, fn func(ns netns.NsHandle) (T, error)) (T, error) {
	var v T
	err := n.withNS(ctx, object, func(ns netns.NsHandle) error {
		var err error
		v, err = fn(ns)
		return err
	})
	return v, err
}

// Output is what a command run by Exec printed, and how it ended.
type Output struct {
	Stdout, Stderr string
	// ExitCode is the command's exit status, 128+N if signal N killed it.
	ExitCode int
}

// Exec runs argv inside the node's network namespace (like `netlab exec`:
// the network namespace only; mounts, /sys and /etc stay the host's) and
// returns its output and exit status. A non-zero exit is not an error; an
// argv that cannot be started is. argv is executed directly, never through
// a shell; its program is looked up in this process's PATH.
func (n *Node) Exec(ctx context.Context, argv ...string) (*Output, error) {
	if len(argv) == 0 {
		return nil, n.errorf("exec", errors.New("no command"))
	}
	object := fmt.Sprintf("exec %q", argv)
	out := &Output{}
	err := n.withNS(ctx, object, func(ns netns.NsHandle) error {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, path, argv[1:]...)
		cmd.Args = argv
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := nsutil.Start(ns, cmd); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		err = cmd.Wait()
		out.Stdout, out.Stderr = so.String(), se.String()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			out.ExitCode = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				out.ExitCode = 128 + int(ws.Signal())
			}
			if ctx.Err() != nil {
				return fmt.Errorf("exit %d: %w", out.ExitCode, ctx.Err())
			}
			return nil
		case err != nil:
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MustExec is Exec that fails t unless the command exits 0; the failure
// shows its output.
func (n *Node) MustExec(t testing.TB, argv ...string) *Output {
	t.Helper()
	out, err := n.Exec(t.Context(), argv...)
	if err != nil {
		t.Fatal(err)
	}
	if out.ExitCode != 0 {
		t.Fatalf("lab %s: node %s: exec %q: exit %d\nstdout:\n%s\nstderr:\n%s", n.lab.name, n.name, argv, out.ExitCode, out.Stdout, out.Stderr)
	}
	return out
}

// Ping sends ICMP echo requests to dst (IPv4 or IPv6; an IPv6 link-local
// address takes its device as a zone, fe80::1%eth0) from inside the node,
// natively (see probe.Ping). Unlike probe's, a zero Count with no
// Deadline sends one request. It returns the replies and the summary; no
// reply is not an error (check Received). When ctx ends the run, the
// result so far comes back with the error.
func (n *Node) Ping(ctx context.Context, dst string, o probe.PingOptions) (*probe.PingResult, error) {
	object := "ping " + dst
	addr, err := netip.ParseAddr(dst)
	if err != nil {
		return nil, n.errorf(object, err)
	}
	if o.Count == 0 && o.Deadline == 0 {
		o.Count = 1
	}
	return nsCall(ctx, n, object, func(ns netns.NsHandle) (*probe.PingResult, error) {
		return probe.Ping(ctx, ns, addr, o)
	})
}

// MustPing sends exactly one echo request to dst, waits up to 2 s for the
// reply and fails t unless it came.
func (n *Node) MustPing(t testing.TB, dst string) *probe.PingResult {
	t.Helper()
	res, err := n.Ping(t.Context(), dst, probe.PingOptions{Count: 1, Timeout: mustPingTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if res.Received == 0 {
		t.Fatalf("lab %s: node %s: ping %s: no reply within %v (%d sent%s)", n.lab.name, n.name, dst, mustPingTimeout, res.Transmitted, replyErrors(res.Replies))
	}
	return res
}

// replyErrors lists the error reports among ping replies (ICMP errors,
// send errors), for a failure message.
func replyErrors(rs []probe.Reply) string {
	var b strings.Builder
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(&b, "; seq %d: %s", r.Seq, r.Error)
			if r.From.IsValid() {
				fmt.Fprintf(&b, " from %s", r.From)
			}
		}
	}
	return b.String()
}

// Arping sends ARP (IPv4 target) or neighbour discovery (IPv6 target)
// requests or announcements on dev from inside the node (see
// probe.Arping; o.Interface, if set, must be dev). A zero Count with no
// Deadline sends one probe. No answer is not an error (check Received).
func (n *Node) Arping(ctx context.Context, dev, target string, o probe.ArpingOptions) (*probe.ArpingResult, error) {
	object := fmt.Sprintf("arping %s dev %s", target, dev)
	addr, err := netip.ParseAddr(target)
	if err != nil {
		return nil, n.errorf(object, err)
	}
	if o.Interface != "" && o.Interface != dev {
		return nil, n.errorf(object, fmt.Errorf("options name interface %s", o.Interface))
	}
	o.Interface = dev
	if o.Count == 0 && o.Deadline == 0 {
		o.Count = 1
	}
	return nsCall(ctx, n, object, func(ns netns.NsHandle) (*probe.ArpingResult, error) {
		return probe.Arping(ctx, ns, addr, o)
	})
}

// MustArping sends one ARP request (NDP solicitation for IPv6) for target
// on dev, waits up to 2 s and fails t unless it was answered.
func (n *Node) MustArping(t testing.TB, dev, target string) *probe.ArpingResult {
	t.Helper()
	res, err := n.Arping(t.Context(), dev, target, probe.ArpingOptions{Count: 1, Timeout: mustPingTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if res.Received == 0 {
		t.Fatalf("lab %s: node %s: arping %s dev %s: no answer within %v (%d sent)", n.lab.name, n.name, target, dev, mustPingTimeout, res.Transmitted)
	}
	return res
}

// sysctlKey parses a node sysctl key (the dotted form of lab files: an
// interface name with dots is written with '/').
func sysctlKey(key string) (topology.SysctlKey, error) {
	k, err := topology.ParseSysctlKey(key)
	if err != nil {
		return k, err
	}
	if k.RootOnly {
		return k, fmt.Errorf("%s exists only in the root namespace (a lab sets it under host.sysctls)", k.Key)
	}
	return k, nil
}

// Sysctl reads a sysctl inside the node: key is dotted, under net.
// (net.ipv4.conf.eth0.rp_filter); the value comes back with surrounding
// white space trimmed.
func (n *Node) Sysctl(ctx context.Context, key string) (string, error) {
	object := "sysctl " + key
	k, err := sysctlKey(key)
	if err != nil {
		return "", n.errorf(object, err)
	}
	return nsCall(ctx, n, object, func(ns netns.NsHandle) (string, error) {
		return nsutil.ReadSysctl(ns, k.Path)
	})
}

// SetSysctl writes a sysctl inside the node. The lab's teardown does not
// restore it: it dies with the namespace.
func (n *Node) SetSysctl(ctx context.Context, key, value string) error {
	object := "sysctl " + key
	k, err := sysctlKey(key)
	if err != nil {
		return n.errorf(object, err)
	}
	return n.withNS(ctx, object+" = "+value, func(ns netns.NsHandle) error {
		return nsutil.WriteSysctl(ns, k.Path, value)
	})
}

// MustSysctl is Sysctl, failing t on error.
func (n *Node) MustSysctl(t testing.TB, key string) string {
	t.Helper()
	v, err := n.Sysctl(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// MustSetSysctl is SetSysctl, failing t on error.
func (n *Node) MustSetSysctl(t testing.TB, key, value string) {
	t.Helper()
	if err := n.SetSysctl(t.Context(), key, value); err != nil {
		t.Fatal(err)
	}
}
