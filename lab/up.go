package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/internal/hostknob"
	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/internal/state"
	"github.com/netlabdev/netlab/neighctl"
	"github.com/netlabdev/netlab/routectl"
	"github.com/netlabdev/netlab/topology"
)

// Options configure lab operations.
type Options struct {
	// StateDir is the runtime directory ("" means /run/netlab).
	StateDir string
	// Logger receives progress at debug level; nil logs nothing.
	Logger *slog.Logger
	// ReadyTimeout bounds how long Up waits for links to be operationally up
	// (0 means DefaultReadyTimeout; negative means do not wait).
	ReadyTimeout time.Duration
	// Workers bounds how many nodes Up works on at once (0 means
	// DefaultWorkers).
	Workers int
	// Progress, if set, is called as Up's operations complete (one call at
	// a time, from Up's goroutines); it must return quickly.
	Progress func(Progress)
}

func (o Options) store() *state.Store { return state.New(o.StateDir) }

// ledger is the machine's host-knob ledger. It lives in the default runtime
// directory whatever StateDir says: host knobs belong to the machine, so
// netlab instances with different state directories must see each other's
// records (or one would record another's value as the original and
// "restore" it). A container with a /run of its own has its own ledger
// (docs/ci.md).
func (o Options) ledger() *hostknob.Ledger {
	return &hostknob.Ledger{Dir: state.DefaultDir, IO: hostIO{}, Equal: sysctlEqual}
}

// holder names a lab in the machine's ledger: its name, qualified by the
// state directory when that is not the default (labs of one name may live
// in two state directories).
func (o Options) holder(lab string) string {
	dir := filepath.Clean(o.store().Dir)
	if dir == state.DefaultDir {
		return lab
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return lab + "@" + dir
}

func (o Options) log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Result describes a lab that came up.
type Result struct {
	RunID      string
	Plan       *Plan
	Namespaces []string
	// Warnings are facts the user should know (never failures), e.g. an
	// effective rp_filter that differs from the declared one.
	Warnings []string
	// Ready is how long the links took to become operationally up after the
	// last operation (the kernel's linkwatch batches these changes).
	Ready time.Duration
}

// Up builds a validated lab through netlink. Everything that can be checked
// is checked before anything is created (privileges, kernel features, sysctl
// keys, name collisions, host-knob conflicts). If a step fails midway,
// everything created so far is removed and the error names the object and
// the kernel's reason.
func Up(ctx context.Context, l *topology.Lab, opts Options) (*Result, error) {
	t := l.Resolve()
	if t == nil {
		return nil, errors.New("lab is not validated")
	}
	if err := CheckPrivileges(CapNetAdmin, CapSysAdmin); err != nil {
		return nil, err
	}
	if err := nsutil.CheckNetnsReturn(); err != nil {
		return nil, &EnvError{Err: err}
	}
	store := opts.store()
	lock, err := store.Lock(t.Name)
	if err != nil {
		return nil, &EnvError{Err: err}
	}
	// A refusal before anything is recorded leaves no lock file behind.
	defer store.Unlock(t.Name, lock)
	if err := checkNotUp(store, t); err != nil {
		return nil, err
	}
	// Named namespaces must be visible outside this process's mount
	// namespace, or the lab would vanish with it.
	if err := nsutil.CheckRunDir(); err != nil {
		return nil, &EnvError{Err: err}
	}
	plan := NewPlan(t)
	if err := preflight(ctx, l, plan); err != nil {
		return nil, err
	}
	ledger := opts.ledger()
	var knobs []hostknob.Knob
	for _, s := range t.HostSysctls {
		knobs = append(knobs, hostknob.Knob{Key: s.Key, Path: s.Path, Value: s.Value})
	}
	if len(knobs) > 0 {
		if err := ledger.Check(opts.holder(t.Name), knobs); err != nil {
			return nil, &EnvError{Err: err}
		}
	}

	runID := newRunID()
	abs, _ := filepath.Abs(l.File)
	journal, err := store.OpenJournal(t.Name)
	if err != nil {
		return nil, &EnvError{Err: err}
	}
	if err := journal.Append(state.Record{Op: state.OpBegin, RunID: runID, File: abs}); err != nil {
		journal.Close()
		return nil, &EnvError{Err: err}
	}
	snap := &state.Snapshot{Lab: t.Name, RunID: runID, File: abs, Phase: "creating", Created: time.Now().UTC()}
	for _, ln := range t.Links {
		snap.Links = append(snap.Links, state.LinkRecord{A: ln.A.String(), B: ln.B.String()})
	}
	a := &applier{opts: opts, store: store, journal: journal, ledger: ledger, lab: t.Name, runID: runID, topo: t, snap: snap, nodes: map[string]*nodeHandle{}, made: map[string]bool{}}
	res := &Result{RunID: runID, Plan: plan}
	// One snapshot before the first object, one when up: the journal
	// records each object on its own (O(1) each).
	err = a.saveSnap(t)
	if err == nil {
		err = a.apply(ctx, plan)
	}
	if err == nil {
		res.Warnings = append(res.Warnings, a.effectiveWarnings(t)...)
		res.Warnings = append(res.Warnings, a.neighWarnings(ctx, t)...)
		if timeout := opts.ReadyTimeout; timeout >= 0 {
			if timeout == 0 {
				timeout = DefaultReadyTimeout
			}
			var pending []string
			res.Ready, pending = a.waitReady(ctx, t, timeout)
			if len(pending) > 0 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("after %v these interfaces are still not operationally up: %s", res.Ready.Round(time.Millisecond), strings.Join(pending, ", ")))
			}
		}
	}
	a.close()
	if err != nil {
		_ = journal.Append(state.Record{Op: state.OpRollback})
		journal.Close()
		if _, derr := teardown(store, ledger, t.Name, opts.holder(t.Name), lock, opts.log()); derr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", derr))
		}
		return nil, err
	}
	snap.Phase = "up"
	if err := a.saveSnap(t); err != nil {
		journal.Close()
		return res, err
	}
	err = journal.Append(state.Record{Op: state.OpUp, RunID: runID})
	if cerr := journal.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	for _, ns := range snap.Namespaces {
		res.Namespaces = append(res.Namespaces, ns.Name)
	}
	return res, nil
}

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkNotUp refuses a lab that is up (or was left by a crash), and
// namespace names that already exist.
func checkNotUp(store *state.Store, t *topology.Topo) error {
	snap, err := store.Load(t.Name)
	if err != nil {
		return &EnvError{Err: err}
	}
	if snap != nil {
		return envErrorf("lab %s is already up (run %s, from %s, since %s); `netlab down %s` first", t.Name, snap.RunID, snap.File, snap.Created.Format(time.RFC3339), t.Name)
	}
	j, err := store.Journal(t.Name)
	if err != nil {
		return &EnvError{Err: err}
	}
	if len(j) > 0 {
		return envErrorf("lab %s has state left by an interrupted run in %s; `netlab down %s` cleans it up", t.Name, store.LabDir(t.Name), t.Name)
	}
	var taken []string
	for _, n := range t.Nodes {
		if _, err := os.Lstat(nsutil.Path(n.Netns)); err == nil {
			taken = append(taken, n.Netns)
		}
	}
	if len(taken) > 0 {
		return envErrorf("namespace(s) %s already exist and are not a running netlab lab %s; netlab leaves them alone: rename the lab or remove them", strings.Join(taken, ", "), t.Name)
	}
	return nil
}

// preflight checks the kernel, in a throwaway namespace that vanishes with
// its thread: the link kinds the lab needs, that every sysctl key exists
// in a child namespace (per-interface keys are checked on lo's directory),
// the qdiscs of shaped and impaired links and every node's firewall rules
// (probeFeatures).
func preflight(ctx context.Context, l *topology.Lab, p *Plan) error {
	t := p.Topo
	needBridge := false
	for _, n := range t.Nodes {
		for _, i := range n.Ifaces {
			if i.Kind == topology.IfBridge {
				needBridge = true
			}
		}
	}
	type miss struct{ path, msg string }
	var missing []miss
	var feature error
	var unwritable []sysctlRefusal
	err := nsutil.Throwaway(func(h *netlink.Handle) error {
		if len(t.Links) > 0 {
			if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "nlpf0"}, PeerName: "nlpf1"}); err != nil {
				feature = fmt.Errorf("the kernel cannot create veth pairs (module veth): %w", err)
				return nil
			}
		}
		if needBridge {
			if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "nlpfbr"}}); err != nil {
				feature = fmt.Errorf("the kernel cannot create bridges (module bridge): %w", err)
				return nil
			}
		}
		seen := map[string]bool{}
		for _, o := range p.Ops {
			if o.Kind != OpSysctl {
				continue
			}
			probe := o.Sysctl.Path
			if o.Sysctl.Iface != "" {
				parts := strings.Split(probe, "/")
				parts[3] = "lo"
				probe = strings.Join(parts, "/")
			}
			if seen[probe] {
				continue
			}
			seen[probe] = true
			if !nsutil.SysctlExists(probe) {
				from := o.Sysctl.From
				if from == "" {
					from = "nodes." + o.Node
				}
				missing = append(missing, miss{from, fmt.Sprintf("sysctl %s does not exist in a node's namespace on this kernel (no /proc/sys/%s)%s", o.Sysctl.Key, probe, userNSHidden())})
			} else if err := nsutil.SysctlWritable(probe); err != nil {
				unwritable = append(unwritable, sysctlRefusal{o.Sysctl.Key, err})
			}
		}
		feature = probeFeatures(ctx, h, p)
		return nil
	})
	if err != nil {
		return &EnvError{Err: fmt.Errorf("preflight in a throwaway namespace: %w", err)}
	}
	if feature != nil {
		if IsEnv(feature) {
			return feature
		}
		return &EnvError{Err: feature}
	}
	if err := sysctlsUnwritable("in a node's namespace", unwritable); err != nil {
		return err
	}
	var hostUnwritable []sysctlRefusal
	for _, s := range t.HostSysctls {
		if _, err := os.Stat(filepath.Join("/proc/sys", s.Path)); err != nil {
			if err := notInitialNetns(s.Key, s.Path); err != nil {
				return err
			}
			missing = append(missing, miss{s.From, fmt.Sprintf("host sysctl %s does not exist on this kernel", s.Key)})
		} else if err := nsutil.SysctlWritable(s.Path); err != nil {
			hostUnwritable = append(hostUnwritable, sysctlRefusal{s.Key, err})
		}
	}
	if err := sysctlsUnwritable("on the host (host.sysctls)", hostUnwritable); err != nil {
		return err
	}
	if len(missing) > 0 {
		e := &topology.Error{}
		for _, m := range missing {
			e.Problems = append(e.Problems, l.ProblemAt(m.path, "%s", m.msg))
		}
		return e
	}
	return nil
}

type nodeHandle struct {
	ns netns.NsHandle
	nl *netlink.Handle
	// neigh is opened on first use (static entries, warning read-backs).
	neigh *neighctl.Conn
	// route is opened on first use (routes and rules).
	route *routectl.Conn
	// fw is opened on first use (firewall tables and rules).
	fw *firewall.Conn
	// index caches interface indexes by name (see link).
	index map[string]int
}

// link returns the node's interface name for netlink calls that need its
// index: looked up once (RTM_GETLINK), then from the node's index cache.
// Only the node's own worker calls it (a stage gives each node one worker).
func (h *nodeHandle) link(name string) (netlink.Link, error) {
	if i, ok := h.index[name]; ok {
		return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Index: i}}, nil
	}
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return nil, err
	}
	h.remember(name, l.Attrs().Index)
	return l, nil
}

// remember caches an interface's index (0: unknown, not cached).
func (h *nodeHandle) remember(name string, index int) {
	if index == 0 {
		return
	}
	if h.index == nil {
		h.index = map[string]int{}
	}
	h.index[name] = index
}

// firewallConn returns the node's firewall connection, opening it once.
func (h *nodeHandle) firewallConn() (*firewall.Conn, error) {
	return openOnce(&h.fw, func() (*firewall.Conn, error) { return firewall.Open(h.ns) })
}

// routeConn returns the node's routectl connection, opening it once.
func (h *nodeHandle) routeConn() (*routectl.Conn, error) {
	return openOnce(&h.route, func() (*routectl.Conn, error) { return routectl.Open(h.ns) })
}

// neighConn returns the node's neighctl connection, opening it once.
func (h *nodeHandle) neighConn() (*neighctl.Conn, error) {
	return openOnce(&h.neigh, func() (*neighctl.Conn, error) { return neighctl.Open(h.ns) })
}

// openOnce returns *c, setting it with open on first use.
func openOnce[C any](c **C, open func() (*C, error)) (*C, error) {
	if *c == nil {
		x, err := open()
		if err != nil {
			return nil, err
		}
		*c = x
	}
	return *c, nil
}

type applier struct {
	opts    Options
	store   *state.Store
	journal *state.JournalWriter
	ledger  *hostknob.Ledger
	lab     string
	runID   string
	topo    *topology.Topo
	// mu guards snap and writes to nodes (stages run nodes in parallel;
	// a stage reads only what earlier stages wrote).
	mu         sync.Mutex
	snap       *state.Snapshot
	nodes      map[string]*nodeHandle
	made       map[string]bool // nodes whose namespace exists
	progressMu sync.Mutex
	// exec applies one op or a sysctl batch (nil: execOps; tests replace it).
	exec func(ctx context.Context, batch []Op) (int, error)
}

// node returns a node's handles.
func (a *applier) node(name string) *nodeHandle {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes[name]
}

// saveSnap saves the snapshot with the namespaces made so far, in the
// lab's node order.
func (a *applier) saveSnap(t *topology.Topo) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.snap.Namespaces = a.snap.Namespaces[:0]
	for _, n := range t.Nodes {
		if a.made[n.Name] {
			a.snap.Namespaces = append(a.snap.Namespaces, state.Namespace{Node: n.Name, Name: n.Netns})
		}
	}
	return a.store.Save(a.snap)
}

func (a *applier) close() {
	for _, h := range a.nodes {
		if h.neigh != nil {
			// Its socket would keep the namespace alive after a rollback.
			_ = h.neigh.Close()
		}
		if h.route != nil {
			_ = h.route.Close()
		}
		if h.fw != nil {
			_ = h.fw.Close()
		}
		if h.nl != nil {
			h.nl.Close()
		}
		if h.ns.IsOpen() {
			h.ns.Close()
		}
	}
	a.nodes = map[string]*nodeHandle{}
}

func (a *applier) do(ctx context.Context, o Op) error {
	switch o.Kind {
	case OpNeigh:
		return a.neigh(ctx, o)
	case OpRoute, OpRule:
		return a.routing(ctx, o)
	case OpFirewall:
		return a.firewall(ctx, o)
	case OpQdisc:
		return a.setQdisc(o)
	case OpVeth:
		return a.veth(o)
	case OpBridge:
		return a.bridge(o)
	case OpMaster:
		h := a.node(o.Node)
		link, err := h.link(o.Iface.Name)
		if err == nil {
			var br netlink.Link
			if br, err = h.link(o.Iface.Master); err == nil {
				err = h.nl.LinkSetMasterByIndex(link, br.Attrs().Index)
			}
		}
		return opErr(o.Node, "interface "+o.Iface.Name, "join bridge "+o.Iface.Master, err)
	case OpAddr:
		h := a.node(o.Node)
		link, err := h.link(o.Iface.Name)
		if err == nil {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: o.Addr.Addr().AsSlice(), Mask: net.CIDRMask(o.Addr.Bits(), o.Addr.Addr().BitLen())}}
			if o.Addr.Addr().Is6() && !o.Iface.DAD {
				addr.Flags = unix.IFA_F_NODAD
			}
			err = h.nl.AddrAdd(link, addr)
		}
		return opErr(o.Node, "interface "+o.Iface.Name, "add address "+o.Addr.String(), err)
	case OpBridgeMTU:
		h := a.node(o.Node)
		link, err := h.link(o.Iface.Name)
		if err == nil {
			err = h.nl.LinkSetMTU(link, o.Iface.MTU)
		}
		return opErr(o.Node, "bridge "+o.Iface.Name, fmt.Sprintf("set mtu %d", o.Iface.MTU), err)
	case OpLinkUp:
		h := a.node(o.Node)
		link, err := h.link(o.Iface.Name)
		if err == nil {
			err = h.nl.LinkSetUp(link)
		}
		return opErr(o.Node, "interface "+o.Iface.Name, "set up", err)
	case OpHostSysctl:
		k := hostknob.Knob{Key: o.Sysctl.Key, Path: o.Sysctl.Path, Value: o.Sysctl.Value}
		err := a.ledger.Acquire(a.opts.holder(a.lab), []hostknob.Knob{k}, func(k hostknob.Knob) error {
			if err := a.journal.Append(state.Record{Op: state.OpHostKnob, Name: k.Path}); err != nil {
				return err
			}
			a.mu.Lock()
			a.snap.HostKnobs = append(a.snap.HostKnobs, k.Path)
			a.mu.Unlock()
			return a.saveSnap(a.topo)
		})
		return opErr("", "host sysctl "+o.Sysctl.Key, "set "+o.Sysctl.Value, err)
	}
	return fmt.Errorf("unknown plan op %d", o.Kind)
}

func opErr(node, object, op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Node: node, Object: object, Op: op, Err: err}
}

// createNetns creates a node's namespace and, on the same thread inside it
// before its name is published, marks it, sets lo up and writes the node's
// sysctls (so they precede every link). It returns the index in
// append([]Op{o}, sysctls...) of the op that failed.
func (a *applier) createNetns(o Op, sysctls []Op) (int, error) {
	a.opts.log().Debug("apply", "op", o.String())
	// Intent first: a crash after this line leaves a record down can follow.
	if err := a.journal.Append(state.Record{Op: state.OpNetns, Name: o.Netns, Node: o.Node, RunID: a.runID}); err != nil {
		return 0, opErr(o.Node, "namespace "+o.Netns, "journal intent", err)
	}
	marker := Marker(a.lab, a.runID)
	batch := a.sysctlBatch(sysctls)
	bad := -1
	ns, h, err := nsutil.CreateNamedHandle(o.Netns, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := h.LinkSetAlias(lo, marker); err != nil {
			return fmt.Errorf("set ownership marker on lo: %w", err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		bad, err = nsutil.WriteSysctlsHere(batch)
		return err
	})
	if err != nil {
		if bad >= 0 {
			s := sysctls[bad]
			// The namespace was never published; keep only the kernel's
			// reason for the sysctl.
			return bad + 1, opErr(s.Node, "sysctl "+s.Sysctl.Key, "write "+s.Sysctl.Value, errors.Unwrap(err))
		}
		return 0, opErr(o.Node, "", "create namespace", err)
	}
	a.mu.Lock()
	a.nodes[o.Node] = &nodeHandle{ns: ns, nl: h}
	a.made[o.Node] = true
	a.mu.Unlock()
	if i, err := checkSysctls(sysctls, batch); err != nil {
		return i + 1, err
	}
	return 0, nil
}

// sysctls writes one node's consecutive sysctl ops as one batch (one switch
// into the namespace) and checks each read-back. It returns the index of
// the failing op in ops.
func (a *applier) sysctls(ops []Op) (int, error) {
	batch := a.sysctlBatch(ops)
	o := ops[0]
	bad, err := nsutil.WriteSysctls(a.node(o.Node).ns, batch)
	if err != nil {
		o = ops[bad]
		return bad, opErr(o.Node, "sysctl "+o.Sysctl.Key, "write "+o.Sysctl.Value, err)
	}
	return checkSysctls(ops, batch)
}

// sysctlBatch turns sysctl ops into nsutil's batch, logging each op.
func (a *applier) sysctlBatch(ops []Op) []nsutil.SysctlWrite {
	batch := make([]nsutil.SysctlWrite, len(ops))
	for i, o := range ops {
		a.opts.log().Debug("apply", "op", o.String())
		batch[i] = nsutil.SysctlWrite{Path: o.Sysctl.Path, Value: o.Sysctl.Value}
	}
	return batch
}

// checkSysctls compares what the kernel kept with what each op wrote.
func checkSysctls(ops []Op, batch []nsutil.SysctlWrite) (int, error) {
	for i, o := range ops {
		if !sysctlEqual(o.Sysctl.Path, o.Sysctl.Value, batch[i].Got) {
			return i, opErr(o.Node, "sysctl "+o.Sysctl.Key, "write "+o.Sysctl.Value, fmt.Errorf("the kernel kept %q", batch[i].Got))
		}
	}
	return 0, nil
}

// sysctlEqual compares a written value with the read-back: field by field
// (the kernel prints some vectors tab-separated), and for *_ms keys after
// the kernel's jiffy rounding (msecs_to_jiffies rounds up; a jiffy is at most
// 10 ms for HZ >= 100).
func sysctlEqual(path, want, got string) bool {
	w, g := strings.Fields(want), strings.Fields(got)
	if strings.Join(w, " ") == strings.Join(g, " ") {
		return true
	}
	if strings.HasSuffix(path, "_ms") && len(w) == 1 && len(g) == 1 {
		wi, err1 := strconv.ParseInt(w[0], 10, 64)
		gi, err2 := strconv.ParseInt(g[0], 10, 64)
		return err1 == nil && err2 == nil && gi >= wi && gi-wi < 10
	}
	return false
}

// neigh adds one static entry through neighctl (exclusive, as `ip neigh
// add`: an entry already there is an error). Entries die with their
// namespace, so nothing is journaled.
func (a *applier) neigh(ctx context.Context, o Op) error {
	spec, err := neighSpec(o.Neigh)
	obj := neighObject(o.Neigh)
	if err != nil {
		return opErr(o.Node, obj, "add", err)
	}
	c, err := a.node(o.Node).neighConn()
	if err != nil {
		return opErr(o.Node, obj, "add", err)
	}
	if err := c.Add(ctx, spec); err != nil {
		// neighctl names the entry again; keep only its reason.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return opErr(o.Node, obj, "add", err)
	}
	return nil
}

// neighObject names a static entry in errors: "neighbour 192.0.2.9 dev
// eth0" or "proxy neighbour ...".
func neighObject(nb *topology.Neighbor) string {
	s := "neighbour " + nb.To + " dev " + nb.Dev
	if a, err := netip.ParseAddr(nb.To); err == nil {
		s = "neighbour " + a.String() + " dev " + nb.Dev
	}
	if nb.Proxy {
		s = "proxy " + s
	}
	return s
}

// neighSpec turns a validated lab entry into neighctl's Spec.
func neighSpec(nb *topology.Neighbor) (neighctl.Spec, error) {
	ip, err := netip.ParseAddr(nb.To)
	if err != nil {
		return neighctl.Spec{}, fmt.Errorf("to %q: %w", nb.To, err)
	}
	s := neighctl.Spec{IP: ip.Unmap(), Dev: nb.Dev, Router: nb.Router, Proxy: nb.Proxy}
	if nb.Proxy {
		return s, nil
	}
	if s.LLAddr, err = net.ParseMAC(nb.LLAddr); err != nil {
		return neighctl.Spec{}, fmt.Errorf("lladdr %q: %w", nb.LLAddr, err)
	}
	s.State = neighctl.Permanent
	if nb.State != "" {
		st, err := neighctl.ParseState(nb.State)
		if err != nil {
			return neighctl.Spec{}, err
		}
		if st == neighctl.Absent {
			return neighctl.Spec{}, fmt.Errorf("state %s cannot be given to a static entry by this netlab", nb.State)
		}
		s.State = st
	}
	return s, nil
}

// routing adds one declared route or rule through routectl (a route
// exclusively, as `ip route add`). Routes and rules die with their
// namespace, so nothing is journaled.
func (a *applier) routing(ctx context.Context, o Op) error {
	var obj string
	var add func(c *routectl.Conn) error
	switch o.Kind {
	case OpRoute:
		obj = routeObject(o.Route, o.Index)
		rt, err := routeSpec(o.Spec, o.Route)
		if err != nil {
			return opErr(o.Node, obj, "add", err)
		}
		add = func(c *routectl.Conn) error { return c.AddRoute(ctx, rt) }
	default:
		obj = ruleObject(o.Rule, o.Index)
		ru, err := ruleSpec(o.Spec, o.Rule)
		if err != nil {
			return opErr(o.Node, obj, "add", err)
		}
		add = func(c *routectl.Conn) error { return c.AddRule(ctx, ru) }
	}
	c, err := a.node(o.Node).routeConn()
	if err == nil {
		// routectl names the route or rule again; keep only its reason.
		if err = add(c); err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
		}
	}
	return opErr(o.Node, obj, "add", err)
}

func (a *applier) veth(o Op) error {
	ha, hb := a.node(o.Link.A.Node), a.node(o.Link.B.Node)
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: o.Iface.Name, Index: o.Index, HardwareAddr: o.Iface.MAC, MTU: o.Iface.MTU},
		PeerName:      o.Peer.Name,
		PeerNamespace: netlink.NsFd(int(hb.ns)),
	}
	if o.Peer.MAC != nil {
		v.PeerHardwareAddr = o.Peer.MAC
	}
	switch {
	case o.Peer.MTU != 0:
		v.PeerMTU = uint32(o.Peer.MTU)
	case o.Iface.MTU != 0:
		// Without PeerMTU the netlink library gives the peer this end's
		// mtu; an end without a declared mtu keeps the kernel's default
		// for a new veth (ETH_DATA_LEN), as with ip link add.
		v.PeerMTU = 1500
	}
	err := ha.nl.LinkAdd(v)
	if err == nil {
		ha.remember(o.Iface.Name, o.Index)
	}
	return opErr(o.Node, fmt.Sprintf("link %s-%s", o.Link.A, o.Link.B), "create veth pair", err)
}

func (a *applier) bridge(o Op) error {
	h := a.node(o.Node)
	ageing := uint32(o.Iface.Ageing.Milliseconds() / 10) // clock_t, USER_HZ=100
	br := &netlink.Bridge{
		LinkAttrs:  netlink.LinkAttrs{Name: o.Iface.Name, HardwareAddr: o.Iface.MAC, MTU: o.Iface.MTU},
		AgeingTime: &ageing,
	}
	if err := h.nl.LinkAdd(br); err != nil {
		return opErr(o.Node, "bridge "+o.Iface.Name, "create", err)
	}
	h.remember(o.Iface.Name, br.Index) // LinkAdd looked it up
	if o.Iface.STP {
		link, err := h.link(o.Iface.Name)
		if err == nil {
			err = nsutil.Do(h.ns, func() error { return setBridgeSTP(link.Attrs().Index, 1) })
		}
		return opErr(o.Node, "bridge "+o.Iface.Name, "enable stp", err)
	}
	return nil
}

// setBridgeSTP sets IFLA_BR_STP_STATE, which vishvananda/netlink does not
// expose; it runs inside the bridge's namespace (nsutil.Do).
func setBridgeSTP(index int, on uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(on))
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

type hostIO struct{}

func (hostIO) Read(path string) (string, error) { return nsutil.ReadHostSysctl(path) }
func (hostIO) Write(path, v string) error       { return nsutil.WriteHostSysctl(path, v) }
