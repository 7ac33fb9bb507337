package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/internal/hostknob"
	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/topology"
)

// Summary is one running lab in a listing.
type Summary struct {
	Name    string    `json:"name"`
	RunID   string    `json:"run_id"`
	Phase   string    `json:"phase"`
	File    string    `json:"file,omitempty"`
	Created time.Time `json:"created"`
	Nodes   int       `json:"nodes"`
}

// List returns the labs that have state (running, or left by a crash).
func List(opts Options) ([]Summary, error) {
	store := opts.store()
	labs, err := store.Labs()
	if err != nil {
		return nil, err
	}
	out := []Summary{}
	for _, name := range labs {
		snap, err := store.Load(name)
		if err != nil {
			return nil, err
		}
		s := Summary{Name: name, Phase: "interrupted"}
		if snap != nil {
			s = Summary{Name: name, RunID: snap.RunID, Phase: snap.Phase, File: snap.File, Created: snap.Created, Nodes: len(snap.Namespaces)}
		}
		out = append(out, s)
	}
	return out, nil
}

// LabStatus is one lab as the kernel has it now.
type LabStatus struct {
	Summary
	Nodes     []NodeStatus     `json:"nodes_detail"`
	HostKnobs []hostknob.Entry `json:"host_knobs,omitempty"`
}

// NodeStatus is one node.
type NodeStatus struct {
	Name       string        `json:"name"`
	Namespace  string        `json:"namespace"`
	Interfaces []IfaceStatus `json:"interfaces"`
	// Firewall is the rules of netlab's nftables tables in the node, with
	// their counters (empty without rules).
	Firewall []firewall.Entry `json:"firewall"`
	Error    string           `json:"error,omitempty"`
}

// IfaceStatus is one interface.
type IfaceStatus struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	MAC       string   `json:"mac,omitempty"`
	MTU       int      `json:"mtu"`
	State     string   `json:"state"`
	Addresses []string `json:"addresses"`
	Peer      string   `json:"peer,omitempty"`
	Master    string   `json:"master,omitempty"`
}

// ErrNotUp means the lab has no state.
var ErrNotUp = errors.New("lab is not up")

// ErrUnknownNode means a running lab has no such node.
var ErrUnknownNode = errors.New("unknown node")

// Status reads a running lab's nodes and interfaces from the kernel.
func Status(ctx context.Context, name string, opts Options) (*LabStatus, error) {
	if err := topology.CheckLabName(name); err != nil {
		return nil, err
	}
	store := opts.store()
	snap, err := store.Load(name)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		return nil, fmt.Errorf("lab %s: %w (netlab status lists running labs)", name, ErrNotUp)
	}
	if err := CheckPrivileges(CapSysAdmin); err != nil {
		return nil, err
	}
	st := &LabStatus{Summary: Summary{Name: name, RunID: snap.RunID, Phase: snap.Phase, File: snap.File, Created: snap.Created, Nodes: len(snap.Namespaces)}}
	peers := map[string]string{}
	for _, l := range snap.Links {
		peers[l.A], peers[l.B] = l.B, l.A
	}
	for _, ns := range snap.Namespaces {
		n := NodeStatus{Name: ns.Node, Namespace: ns.Name, Interfaces: []IfaceStatus{}}
		ifs, err := nodeIfaces(ns.Name, Marker(name, snap.RunID))
		if err == nil {
			n.Firewall, err = nodeFirewall(ctx, ns.Name)
		}
		if err != nil {
			n.Error = err.Error()
		}
		if n.Firewall == nil {
			n.Firewall = []firewall.Entry{}
		}
		for _, i := range ifs {
			i.Peer = peers[ns.Node+":"+i.Name]
			n.Interfaces = append(n.Interfaces, i)
		}
		st.Nodes = append(st.Nodes, n)
	}
	if held, err := opts.ledger().Held(opts.holder(name)); err == nil {
		st.HostKnobs = held
	}
	return st, nil
}

func nodeIfaces(nsName, marker string) ([]IfaceStatus, error) {
	ns, err := nsutil.Open(nsName)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := nsutil.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := checkMarker(h, nsName, marker); err != nil {
		return nil, err
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	byIndex := map[int]string{}
	for _, l := range links {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	var out []IfaceStatus
	for _, l := range links {
		a := l.Attrs()
		s := IfaceStatus{Name: a.Name, Kind: l.Type(), MTU: a.MTU, State: strings.ToUpper(a.OperState.String()), Addresses: []string{}}
		if a.Flags&unix.IFF_UP == 0 {
			s.State = "DOWN"
		}
		if len(a.HardwareAddr) > 0 {
			s.MAC = a.HardwareAddr.String()
		}
		if a.MasterIndex != 0 {
			s.Master = byIndex[a.MasterIndex]
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.IP.IsLinkLocalUnicast() && ad.IP.To4() == nil {
				continue
			}
			ones, _ := ad.Mask.Size()
			s.Addresses = append(s.Addresses, fmt.Sprintf("%s/%d", ad.IP, ones))
		}
		out = append(out, s)
	}
	return out, nil
}

// nodeFirewall lists the rules of netlab's tables in a node (its marker was
// checked by nodeIfaces).
func nodeFirewall(ctx context.Context, nsName string) ([]firewall.Entry, error) {
	ns, err := nsutil.Open(nsName)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	c, err := firewall.Open(ns)
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return nil, nil // a kernel without nftables: no rules
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.List(ctx)
}

// Exec runs argv inside a running lab's node with stdio passed through and
// returns the command's exit status (128+signal if it was killed). argv is
// executed directly, never through a shell.
func Exec(ctx context.Context, labName, node string, argv []string, opts Options) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("exec needs a command")
	}
	if err := topology.CheckLabName(labName); err != nil {
		return 0, err
	}
	if err := CheckPrivileges(CapSysAdmin); err != nil {
		return 0, err
	}
	ns, err := openNode(labName, node, opts)
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 127, fmt.Errorf("node %s: %w", node, err)
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args = argv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// The child shares our terminal: let ^C reach it, and wait for it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := nsutil.Start(ns, cmd); err != nil {
		return 127, fmt.Errorf("node %s: start %s: %w", node, argv[0], err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("node %s: %w", node, err)
	}
	return 0, nil
}

// openNode opens a running lab's node namespace after checking it is
// netlab's (the marker).
func openNode(labName, node string, opts Options) (netns.NsHandle, error) {
	snap, err := opts.store().Load(labName)
	if err != nil {
		return netns.None(), err
	}
	if snap == nil {
		return netns.None(), fmt.Errorf("lab %s: %w", labName, ErrNotUp)
	}
	var nsName string
	var nodes []string
	for _, ns := range snap.Namespaces {
		nodes = append(nodes, ns.Node)
		if ns.Node == node {
			nsName = ns.Name
		}
	}
	if nsName == "" {
		return netns.None(), fmt.Errorf("lab %s: %w %q (nodes: %s)", labName, ErrUnknownNode, node, strings.Join(nodes, ", "))
	}
	ns, err := nsutil.Open(nsName)
	if err != nil {
		return netns.None(), err
	}
	h, err := nsutil.Handle(ns)
	if err == nil {
		err = checkMarker(h, nsName, Marker(labName, snap.RunID))
		h.Close()
	}
	if err != nil {
		ns.Close()
		return netns.None(), err
	}
	return ns, nil
}

// ErrNotOurs means a namespace does not carry the marker netlab expects.
var ErrNotOurs = errors.New("namespace is not netlab's")

// checkMarker verifies that the namespace behind h carries want as its lo
// alias.
func checkMarker(h *netlink.Handle, nsName, want string) error {
	got, err := loAlias(h, nsName)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: %w (lo alias %q, want %q): it was replaced after the lab came up; refusing to use it", nsName, ErrNotOurs, got, want)
	}
	return nil
}

// loAlias reads the ownership marker: the alias of lo in h's namespace.
func loAlias(h *netlink.Handle, nsName string) (string, error) {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("namespace %s: find lo: %w", nsName, err)
	}
	return lo.Attrs().Alias, nil
}

// Exists reports whether a lab has state.
func Exists(name string, opts Options) (bool, error) {
	snap, err := opts.store().Load(name)
	if err != nil {
		return false, err
	}
	if snap != nil {
		return true, nil
	}
	j, err := opts.store().Journal(name)
	return len(j) > 0, err
}
