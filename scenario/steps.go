package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/capture"
	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/neighctl"
	"github.com/netlabdev/netlab/probe"
	"github.com/netlabdev/netlab/routectl"
	"github.com/netlabdev/netlab/topology"
)

// failf marks a step FAIL; errorf ERROR.
func failf(res *StepResult, format string, args ...any) {
	res.Verdict, res.Message = Fail, fmt.Sprintf(format, args...)
}

func errorf(res *StepResult, err error) {
	res.Verdict, res.Message = Error, err.Error()
}

func (r *runner) step(ctx, capCtx context.Context, i int, s *topology.Step, res *StepResult) {
	res.Verdict = Pass
	var err error
	switch {
	case s.Ping != nil:
		err = r.ping(ctx, s.Ping, res)
	case s.Arping != nil:
		err = r.arping(ctx, s.Arping, res)
	case s.TCP != nil:
		err = r.tcp(ctx, s.TCP, res)
	case s.Expect != nil:
		err = r.cond(ctx, s.Expect, false, res)
	case s.Wait != nil:
		err = r.cond(ctx, s.Wait, true, res)
	case s.Sysctl != nil:
		err = r.sysctl(s.Sysctl, res)
	case s.Neigh != nil:
		err = r.neighStep(ctx, s.Neigh, res)
	case s.Exec != nil:
		err = r.exec(ctx, s.Exec, res)
	case s.Sleep != nil:
		t := time.NewTimer(s.Sleep.Duration)
		defer t.Stop()
		select {
		case <-t.C:
			res.Message = "slept " + s.Sleep.String()
		case <-ctx.Done():
			err = ctx.Err()
		}
	case s.Link != nil:
		err = r.link(s.Link, res)
	case s.Firewall != nil:
		err = r.firewall(ctx, i, s.Firewall, res)
	case s.Capture != nil:
		err = r.capture(ctx, capCtx, i, s.Capture, res)
	default:
		err = errors.New("step has no action")
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		errorf(res, err)
	}
}

func dur(d *topology.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func (r *runner) ping(ctx context.Context, p *topology.PingStep, res *StepResult) error {
	dst, err := netip.ParseAddr(p.To)
	if err != nil {
		return fmt.Errorf("ping to %q: %w", p.To, err)
	}
	o := probe.PingOptions{Count: intOr(p.Count, 1), Interval: dur(p.Interval, DefaultPingInterval),
		Timeout: dur(p.Timeout, DefaultPingTimeout), Interface: p.Dev, Confirm: p.Confirm, TTL: intOr(p.TTL, 0)}
	if p.Size != nil {
		o.Size = *p.Size
		if o.Size == 0 {
			o.Size = probe.EmptyPayload
		}
	}
	if p.Src != "" {
		if o.Source, err = netip.ParseAddr(p.Src); err != nil {
			return fmt.Errorf("ping src %q: %w", p.Src, err)
		}
	}
	pr, err := probe.Ping(ctx, r.ns[p.From], dst, o)
	if err != nil {
		return fmt.Errorf("node %s: ping %s: %w", p.From, dst, err)
	}
	got := fmt.Sprintf("%d transmitted, %d received, %g%% loss", pr.Transmitted, pr.Received, pr.LossPercent)
	for _, rp := range pr.Replies {
		if rp.Error != "" {
			got += "; " + rp.Error
			break
		}
	}
	switch {
	case p.Loss != "":
		want, _ := strconv.ParseFloat(strings.TrimSuffix(p.Loss, "%"), 64)
		if d := pr.LossPercent - want; d > 0.01 || d < -0.01 {
			failf(res, "expected loss %s; observed %s", p.Loss, got)
			return nil
		}
	case p.Expect == "failure":
		if pr.Received > 0 {
			failf(res, "expected no reply; observed %s", got)
			return nil
		}
	default:
		if pr.Received == 0 {
			failf(res, "expected at least one reply; observed %s", got)
			return nil
		}
	}
	res.Message = got
	return nil
}

func (r *runner) arping(ctx context.Context, a *topology.ArpingStep, res *StepResult) error {
	dst, err := netip.ParseAddr(a.To)
	if err != nil {
		return fmt.Errorf("arping to %q: %w", a.To, err)
	}
	o := probe.ArpingOptions{Interface: a.Dev, Count: intOr(a.Count, 1), Timeout: dur(a.Timeout, DefaultArpTimeout)}
	if o.Interface == "" {
		o.Interface = r.devFor(a.From, dst)
	}
	mode := a.Mode
	if mode == "" {
		mode = "request"
	}
	if err := o.Mode.UnmarshalText([]byte(mode)); err != nil {
		return err
	}
	if a.Src != "" {
		if o.Source, err = netip.ParseAddr(a.Src); err != nil {
			return fmt.Errorf("arping src %q: %w", a.Src, err)
		}
	}
	ar, err := probe.Arping(ctx, r.ns[a.From], dst, o)
	if err != nil {
		return fmt.Errorf("node %s: arping %s on %s: %w", a.From, dst, o.Interface, err)
	}
	got := fmt.Sprintf("%s %s on %s: %d sent, %d answered", ar.Protocol, mode, o.Interface, ar.Transmitted, ar.Received)
	if len(ar.Replies) > 0 {
		got += " (" + ar.Replies[0].LLAddr + ")"
	}
	switch {
	case a.Expect == "failure":
		if ar.Received > 0 {
			failf(res, "expected no answer; observed %s", got)
			return nil
		}
	case a.Expect == "success" || (a.Expect == "" && o.Mode == probe.ModeRequest):
		if ar.Received == 0 {
			failf(res, "expected an answer; observed %s", got)
			return nil
		}
	}
	res.Message = got
	return nil
}

// devFor picks the node's interface whose declared prefix holds dst.
func (r *runner) devFor(node string, dst netip.Addr) string {
	n := r.topo.Node(node)
	if n == nil {
		return ""
	}
	for _, ifc := range n.Ifaces {
		for _, p := range ifc.Addresses {
			if p.Contains(dst) {
				return ifc.Name
			}
		}
	}
	for _, ifc := range n.Ifaces {
		if ifc.Name != "lo" {
			return ifc.Name
		}
	}
	return ""
}

// owner is the node that declares address a.
func (r *runner) owner(a netip.Addr) string {
	for _, n := range r.topo.Nodes {
		for _, ifc := range n.Ifaces {
			for _, p := range ifc.Addresses {
				if p.Addr() == a {
					return n.Name
				}
			}
		}
	}
	return ""
}

func (r *runner) tcp(ctx context.Context, t *topology.TCPStep, res *StepResult) error {
	dst, err := netip.ParseAddr(t.To)
	if err != nil {
		return fmt.Errorf("tcp to %q: %w", t.To, err)
	}
	server := r.owner(dst)
	if server == "" {
		return fmt.Errorf("tcp to %s: no node of the lab declares that address", dst)
	}
	o := probe.TCPOptions{Addr: dst, Port: t.Port}
	if t.Bytes != nil {
		o.Bytes = *t.Bytes
	}
	if t.Duration != nil {
		o.Duration = t.Duration.Duration
	}
	tr, err := probe.TCPFlow(ctx, r.ns[server], r.ns[t.From], o)
	if err != nil {
		failf(res, "expected a TCP flow %s -> %s:%d; observed: %v", t.From, dst, t.Port, err)
		return nil
	}
	res.Message = fmt.Sprintf("%s -> %s: %d bytes sent, %d received in %d ms", tr.Client, tr.Server, tr.BytesSent, tr.BytesReceived, tr.DurationMS)
	return nil
}

// cond checks a condition once, or polls it until it holds or its timeout.
func (r *runner) cond(ctx context.Context, c *topology.Condition, wait bool, res *StepResult) error {
	var deadline time.Time
	if wait {
		deadline = time.Now().Add(dur(c.Timeout, DefaultWaitTimeout))
	}
	var ip netip.Addr
	if c.Neighbor != "" {
		var err error
		if ip, err = netip.ParseAddr(c.Neighbor); err != nil {
			return fmt.Errorf("neighbor %q: %w", c.Neighbor, err)
		}
	}
	t0 := time.Now()
	for {
		ok, observed, err := r.check(ctx, c, ip)
		if err != nil {
			return err
		}
		if ok {
			res.Message = "observed " + observed
			if wait {
				res.Message += fmt.Sprintf(" after %v", time.Since(t0).Round(time.Millisecond))
			}
			return nil
		}
		if !wait || time.Now().After(deadline) {
			msg := fmt.Sprintf("expected %s; observed %s", condString(c), observed)
			if wait {
				msg = fmt.Sprintf("expected %s within %v; observed %s", condString(c), dur(c.Timeout, DefaultWaitTimeout), observed)
			}
			failf(res, "%s", msg)
			if ip.IsValid() {
				// Let the watch record what the check just saw (events
				// arrive, and polls run, asynchronously).
				settle := time.NewTimer(2 * neighctl.DefaultInterval)
				select {
				case <-settle.C:
				case <-ctx.Done():
					settle.Stop()
				}
				res.Timeline = r.entryTimeline(c.Node, ip)
			}
			return nil
		}
		tm := time.NewTimer(r.o.PollInterval)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
	}
}

// check evaluates a condition now: whether it holds, and what was observed.
func (r *runner) check(ctx context.Context, c *topology.Condition, ip netip.Addr) (bool, string, error) {
	switch {
	case c.Neighbor != "":
		return r.checkNeigh(ctx, c, ip)
	case c.Route != nil:
		return r.checkRoute(ctx, c)
	case c.Sysctl != "":
		k, err := topology.ParseSysctlKey(c.Sysctl)
		if err != nil {
			return false, "", err
		}
		v, err := nsutil.ReadSysctl(r.ns[c.Node], k.Path)
		if err != nil {
			return false, "", fmt.Errorf("node %s: sysctl %s: %w", c.Node, c.Sysctl, err)
		}
		obs := fmt.Sprintf("%s = %s", k.Key, v)
		if c.Value == nil {
			return true, obs, nil
		}
		return strings.Join(strings.Fields(v), " ") == strings.Join(strings.Fields(string(*c.Value)), " "), obs, nil
	case c.FDB != "":
		return r.checkFDB(c)
	}
	return false, "", errors.New("condition names no neighbor, route, sysctl or fdb")
}

func (r *runner) checkNeigh(ctx context.Context, c *topology.Condition, ip netip.Addr) (bool, string, error) {
	es, err := r.neigh[c.Node].List(ctx, neighctl.Filter{IP: ip, Dev: c.Dev})
	if err != nil {
		return false, "", fmt.Errorf("node %s: neighbour %s: %w", c.Node, ip, err)
	}
	var cur []neighctl.Entry
	for _, e := range es {
		if !e.Flags.Proxy && e.IP == ip {
			cur = append(cur, e)
		}
	}
	if len(cur) == 0 {
		return c.Absent, "no entry", nil
	}
	var obs []string
	for _, e := range cur {
		obs = append(obs, fmt.Sprintf("%s dev %s lladdr %s", e.State, e.Dev, e.LLAddr))
	}
	observed := strings.Join(obs, "; ")
	if c.Absent {
		return false, observed, nil
	}
	for _, e := range cur {
		ok := true
		if len(c.State) > 0 {
			ok = false
			for _, s := range c.State {
				st, err := neighctl.ParseState(s)
				if err != nil {
					return false, "", err
				}
				if e.State == st {
					ok = true
				}
			}
		}
		if c.LLAddr != "" && !strings.EqualFold(e.LLAddr, c.LLAddr) {
			ok = false
		}
		if ok {
			return true, observed, nil
		}
	}
	return false, observed, nil
}

func (r *runner) checkRoute(ctx context.Context, c *topology.Condition) (bool, string, error) {
	q := routectl.Query{IIF: c.Route.IIF}
	var err error
	if q.To, err = netip.ParseAddr(c.Route.To); err != nil {
		return false, "", fmt.Errorf("route to %q: %w", c.Route.To, err)
	}
	if c.Route.From != "" {
		if q.From, err = netip.ParseAddr(c.Route.From); err != nil {
			return false, "", fmt.Errorf("route from %q: %w", c.Route.From, err)
		}
	}
	if c.Route.Mark != nil {
		q.Mark = *c.Route.Mark
	}
	rc, err := routectl.Open(r.ns[c.Node])
	if err != nil {
		return false, "", fmt.Errorf("node %s: %w", c.Node, err)
	}
	defer rc.Close()
	d, err := rc.Get(ctx, q)
	if err != nil {
		return false, "", fmt.Errorf("node %s: route get %s: %w", c.Node, q, err)
	}
	obs := d.String()
	ok := true
	if c.Via != "" {
		via, err := netip.ParseAddr(c.Via)
		if err != nil {
			return false, "", fmt.Errorf("via %q: %w", c.Via, err)
		}
		ok = ok && d.Via == via
	}
	if c.Dev != "" {
		ok = ok && d.Dev == c.Dev
	}
	if c.Type != "" {
		ok = ok && strings.EqualFold(d.Type, c.Type)
	}
	if c.Type == "" && d.Err != "" {
		ok = false
	}
	return ok, obs, nil
}

// checkFDB looks for a MAC in a node's bridge forwarding database.
func (r *runner) checkFDB(c *topology.Condition) (bool, string, error) {
	mac, err := net.ParseMAC(c.FDB)
	if err != nil {
		return false, "", fmt.Errorf("fdb %q: %w", c.FDB, err)
	}
	h, err := nsutil.Handle(r.ns[c.Node])
	if err != nil {
		return false, "", fmt.Errorf("node %s: %w", c.Node, err)
	}
	defer h.Close()
	ns, err := h.NeighList(0, unix.AF_BRIDGE)
	if err != nil {
		return false, "", fmt.Errorf("node %s: fdb: %w", c.Node, err)
	}
	var seen []string
	for _, n := range ns {
		if !bytes.Equal(n.HardwareAddr, mac) {
			continue
		}
		name := strconv.Itoa(n.LinkIndex)
		if l, err := h.LinkByIndex(n.LinkIndex); err == nil {
			name = l.Attrs().Name
		}
		if c.Dev != "" && name != c.Dev {
			seen = append(seen, "on "+name)
			continue
		}
		if c.Absent {
			return false, fmt.Sprintf("%s on %s", mac, name), nil
		}
		return true, fmt.Sprintf("%s on %s", mac, name), nil
	}
	if len(seen) > 0 {
		return c.Absent, fmt.Sprintf("%s only %s", mac, strings.Join(seen, ", ")), nil
	}
	return c.Absent, fmt.Sprintf("%s not in the fdb", mac), nil
}

func (r *runner) sysctl(s *topology.SysctlStep, res *StepResult) error {
	k, err := topology.ParseSysctlKey(s.Key)
	if err != nil {
		return err
	}
	if err := nsutil.WriteSysctl(r.ns[s.Node], k.Path, string(s.Value)); err != nil {
		failf(res, "node %s: sysctl %s = %s refused: %v", s.Node, k.Key, s.Value, err)
		return nil
	}
	got, err := nsutil.ReadSysctl(r.ns[s.Node], k.Path)
	if err != nil {
		return fmt.Errorf("node %s: sysctl %s: read back: %w", s.Node, k.Key, err)
	}
	res.Message = fmt.Sprintf("%s = %s", k.Key, got)
	return nil
}

func (r *runner) neighStep(ctx context.Context, n *topology.NeighStep, res *StepResult) error {
	c := r.neigh[n.Node]
	if n.Action == "flush" {
		del, err := c.Flush(ctx, neighctl.FlushOptions{Dev: n.Dev})
		if err != nil {
			failf(res, "node %s: neigh flush: %v", n.Node, err)
			return nil
		}
		res.Message = fmt.Sprintf("flushed %d entr%s", len(del), map[bool]string{true: "y", false: "ies"}[len(del) == 1])
		return nil
	}
	sp := neighctl.Spec{Dev: n.Dev, Proxy: n.Proxy, State: neighctl.Permanent}
	var err error
	if sp.IP, err = netip.ParseAddr(n.To); err != nil {
		return fmt.Errorf("neigh to %q: %w", n.To, err)
	}
	if n.LLAddr != "" {
		if sp.LLAddr, err = net.ParseMAC(n.LLAddr); err != nil {
			return fmt.Errorf("neigh lladdr %q: %w", n.LLAddr, err)
		}
	}
	if n.State != "" {
		if sp.State, err = neighctl.ParseState(n.State); err != nil {
			return err
		}
	}
	switch n.Action {
	case "add":
		err = c.Add(ctx, sp)
	case "set":
		err = c.Set(ctx, sp)
	case "del":
		sp = neighctl.Spec{IP: sp.IP, Dev: sp.Dev, Proxy: sp.Proxy}
		err = c.Del(ctx, sp)
	case "use":
		sp = neighctl.Spec{IP: sp.IP, Dev: sp.Dev}
		err = c.Use(ctx, sp)
	default:
		return fmt.Errorf("neigh action %q", n.Action)
	}
	if err != nil {
		failf(res, "node %s: neigh %s %s: %v", n.Node, n.Action, sp, err)
		return nil
	}
	res.Message = fmt.Sprintf("neigh %s %s", n.Action, sp)
	return nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (r *runner) exec(ctx context.Context, e *topology.ExecStep, res *StepResult) error {
	want := intOr(e.ExpectExit, 0)
	out := &limitedBuffer{max: MaxOutput}
	cmd := exec.CommandContext(ctx, e.Cmd[0], e.Cmd[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := nsutil.Start(r.ns[e.Node], cmd); err != nil {
		failf(res, "node %s: exec %s: %v", e.Node, e.Cmd[0], err)
		return nil
	}
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	case err != nil:
		return fmt.Errorf("node %s: exec %s: %w", e.Node, e.Cmd[0], err)
	}
	res.Output = out.buf.String()
	if out.truncated {
		res.Output += fmt.Sprintf("\n[output truncated at %d bytes]", MaxOutput)
	}
	if code != want {
		failf(res, "expected exit %d; observed exit %d", want, code)
		return nil
	}
	res.Message = fmt.Sprintf("exit %d", code)
	return nil
}

// link sets a device down (the kernel flushes its neighbours, routes and
// IPv6 addresses) or up (and adds the lab's declared addresses again).
func (r *runner) link(l *topology.LinkStep, res *StepResult) error {
	h, err := nsutil.Handle(r.ns[l.Node])
	if err != nil {
		return fmt.Errorf("node %s: %w", l.Node, err)
	}
	defer h.Close()
	lk, err := h.LinkByName(l.Dev)
	if err != nil {
		return fmt.Errorf("node %s: link %s: %w", l.Node, l.Dev, err)
	}
	if strings.EqualFold(l.State, "down") {
		if err := h.LinkSetDown(lk); err != nil {
			failf(res, "node %s: link %s: set down: %v", l.Node, l.Dev, err)
			return nil
		}
		res.Message = l.Dev + " down"
		return nil
	}
	if err := h.LinkSetUp(lk); err != nil {
		failf(res, "node %s: link %s: set up: %v", l.Node, l.Dev, err)
		return nil
	}
	n := 0
	if rn := r.topo.Node(l.Node); rn != nil {
		if ifc := rn.Iface(l.Dev); ifc != nil {
			for _, p := range ifc.Addresses {
				a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
				if p.Addr().Is6() && !ifc.DAD {
					a.Flags = unix.IFA_F_NODAD
				}
				if err := h.AddrReplace(lk, a); err != nil {
					failf(res, "node %s: link %s: address %s: %v", l.Node, l.Dev, p, err)
					return nil
				}
				n++
			}
		}
	}
	res.Message = fmt.Sprintf("%s up, %d declared address(es) applied", l.Dev, n)
	return nil
}

func (r *runner) firewall(ctx context.Context, i int, f *topology.FirewallStep, res *StepResult) error {
	c, err := firewall.Open(r.ns[f.Node])
	if err != nil {
		return fmt.Errorf("node %s: firewall: %w", f.Node, err)
	}
	defer c.Close()
	if f.Flush {
		if err := c.Flush(ctx); err != nil {
			failf(res, "node %s: firewall flush: %v", f.Node, err)
			return nil
		}
		res.Message = "flushed"
		return nil
	}
	rn := r.topo.Node(f.Node)
	if rn == nil {
		return fmt.Errorf("node %s: %w", f.Node, lab.ErrUnknownNode)
	}
	opts := lab.FirewallOptions(rn)
	rules := make([]firewall.Rule, 0, len(f.Add))
	seen := map[firewall.Table]bool{}
	var tables []firewall.Table
	for j, fr := range f.Add {
		rule, err := lab.FirewallRule(fr, fmt.Sprintf("scenario[%d].firewall.add[%d]", i, j))
		if err != nil {
			return fmt.Errorf("node %s: firewall rule %d: %w", f.Node, j, err)
		}
		rules = append(rules, rule)
		if t := opts.TableOf(rule); !seen[t] {
			seen[t] = true
			tables = append(tables, t)
		}
	}
	if err := c.Ensure(ctx, tables...); err != nil {
		failf(res, "node %s: firewall tables: %v", f.Node, err)
		return nil
	}
	if err := c.Apply(ctx, opts, rules...); err != nil {
		failf(res, "node %s: firewall add: %v", f.Node, err)
		return nil
	}
	res.Message = fmt.Sprintf("%d rule(s) added", len(rules))
	return nil
}

// capture starts a capture in the background; the step passes once the
// socket is bound. It ends at its count or duration, or with the run.
func (r *runner) capture(ctx, capCtx context.Context, i int, c *topology.CaptureStep, res *StepResult) error {
	o := capture.Options{Count: intOr(c.Count, 0), Duration: dur(c.Duration, 0)}
	name := c.File
	if name == "" {
		name = fmt.Sprintf("capture-%d-%s-%s.pcap", i+1, c.Node, c.Dev)
	}
	var w io.Writer = io.Discard
	var f *os.File
	cr := CaptureResult{Step: i + 1, Node: c.Node, Dev: c.Dev}
	if r.o.Out != "" {
		var err error
		cr.File = r.outPath(name)
		if f, err = os.Create(cr.File); err != nil {
			return fmt.Errorf("capture %s %s: %w", c.Node, c.Dev, err)
		}
		w = f
	}
	ready := make(chan struct{})
	o.OnReady = func() { close(ready) }
	done := make(chan struct{})
	r.capWG.Add(1)
	go func() {
		defer r.capWG.Done()
		defer close(done)
		st, err := capture.Run(capCtx, r.ns[c.Node], c.Dev, w, o)
		cr.Packets, cr.Bytes, cr.Dropped = st.Packets, st.Bytes, st.Dropped
		if err != nil && !errors.Is(err, context.Canceled) {
			cr.Error = err.Error()
		}
		if f != nil {
			if err := f.Close(); err != nil && cr.Error == "" {
				cr.Error = err.Error()
			}
		}
		r.capMu.Lock()
		r.captures = append(r.captures, cr)
		r.capMu.Unlock()
	}()
	select {
	case <-ready:
		res.Message = "capturing into " + cr.File
		if cr.File == "" {
			res.Message = "capturing (not saved: no output directory)"
		}
		return nil
	case <-done:
		if cr.Error != "" {
			return fmt.Errorf("node %s: capture %s: %s", c.Node, c.Dev, cr.Error)
		}
		res.Message = "capture ended before it was ready"
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
