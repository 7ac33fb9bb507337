// Package labtest runs netlab labs inside Go tests: a test names a lab file,
// gets a live lab of its own, checks the kernel through it, and the lab is
// gone when the test ends.
//
//	func TestARPAging(t *testing.T) {
//		l := labtest.Start(t, "testdata/arp-aging.yaml")
//		h1 := l.Node("h1")
//		h1.MustPing(t, "192.0.2.2")
//		e := h1.MustNeighbor(t, "192.0.2.2")
//		if e.State != neighctl.Reachable || e.LLAddr != "02:00:00:00:0a:02" {
//			t.Fatalf("after one ping: %s %s", e.State, e.LLAddr)
//		}
//		h1.MustWaitNeighbor(t, "192.0.2.2", 7*time.Second, neighctl.Stale)
//	}
//
// # Starting a lab
//
// Start parses and validates the file (an invalid file fails the test with
// every problem as file:line:col: path: message), then brings the lab up in
// this process through the lab package, exactly as `netlab up` does, under
// a unique name: <name>-<test>-<id>, where id is this process's pid and a
// random part (both in base 36), and the test part is what is left of the
// test's name within netlab's 32-byte limit (a lab name too long to leave
// room for the id is cut short first). So parallel tests, the same lab file
// in several parallel tests, and several `go test` processes on one machine
// never collide; a namespace is <lab>-<node> as always (Node.Namespace), so
// `ip netns exec` works on it.
//
// The lab comes down in t.Cleanup: after the test passes, fails, calls
// t.FailNow (t.Fatal, t.Skip) or panics on its own goroutine. What cannot be
// cleaned up in the process: a panic on another goroutine, a `go test
// -timeout` expiry, or a SIGKILL end the process at once; `netlab cleanup`
// (crashed or orphaned labs) or `netlab down <name>` then removes the lab.
// Lab.Down (MustDown) takes a lab down before the test ends, e.g. to check
// what down leaves; the cleanup then has nothing to do.
//
// # Tests that cannot run
//
// A lab needs CAP_NET_ADMIN and CAP_SYS_ADMIN (root), a usable /run/netns
// and the kernel features the lab uses (veth, bridge, the qdiscs of shaped
// links, ...). Without them Start skips the test with the reason, before
// anything is created; with NETLAB_E2E_REQUIRED=1 in the environment (CI
// that must not skip; netlab's own suite uses it) it fails the test instead.
// Probes need CAP_NET_RAW too (root has it).
//
// # Nodes
//
// Lab.Node returns a node; its operations come in two forms:
//
//   - X(ctx, ...) returns an error that names the lab, the node and the
//     object (`lab arp-aging-x-1a2b3c4d5: node h1: ping 192.0.2.9: ...`);
//   - MustX(t, ...) runs X with t.Context() and fails the test with that
//     error (t.Fatal), so it must run on the test's goroutine; Must forms
//     that probe also fail when nothing answered.
//
// The operations: Exec (a command inside the node's network namespace, like
// `netlab exec`; output and exit status), Ping and Arping (the probe
// package, native, no iputils), Neighbors, Neighbor and WaitNeighbor (the
// neighbour table through neighctl; a missing entry is state
// neighctl.Absent, not an error), RouteGet (the kernel's route decision,
// `ip route get` syntax) and Sysctl / SetSysctl (dotted keys under net.*).
// Addresses are strings; a neighbour address may name its device as
// ADDR%DEV. OpenNS gives the node's namespace handle for anything else
// (netlink.NewHandleAt, probe.TCPFlow, ...).
//
// # Options, the flag and the environment
//
// WithStateDir (default: env NETLAB_STATE_DIR, else /run/netlab, as the
// CLI), WithReadyTimeout (how long Up waits for links to be operationally
// up), WithAllowHostSysctl (host.sysctls beyond the neighbour defaults) and
// WithKeep.
//
// Keeping a lab up for debugging: WithKeep, the test flag -netlab.keep
// (`go test ./pkg -run TestX -netlab.keep`), or NETLAB_KEEP=1 (use the
// variable with `go test ./...`: packages that do not import labtest do
// not know the flag) leave every lab up after its test and log how to look
// at it (`ip netns exec <ns> ...`) and how to remove it (`netlab down
// <name>`). The flag is registered on the standard flag set when this
// package is imported, and is its only package-level variable.
//
// labtest logs through t.Logf only: the lab's name and namespaces when it
// is up, validation and up warnings, and the teardown.
package labtest
