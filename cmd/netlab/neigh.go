package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/neighctl"
)

// neighFlags are the flags of `netlab neigh`; which ones apply depends on
// the verb, and a flag given to a verb that ignores it is a usage error.
type neighFlags struct {
	dev, lladdr, state                     string
	router, proxy, managed, all            bool
	multicast                              bool
	duration, interval, maxIntv, emptyIntv time.Duration
	record                                 string
}

const neighUsage = `netlab neigh <lab> [<node>] [--dev DEV]        list neighbour entries
netlab neigh <lab> <node> add <ip> --dev DEV [--lladdr MAC] [--state S] [--router] [--proxy] [--managed]
netlab neigh <lab> <node> set <ip> --dev DEV [--lladdr MAC] [--state S] [--router] [--proxy] [--managed]
netlab neigh <lab> <node> del <ip> --dev DEV [--proxy]
netlab neigh <lab> <node> flush [--dev DEV] [--all]
netlab neigh <lab> <node> use <ip> --dev DEV
netlab neigh <lab> <node> params [<dev>]
netlab neigh watch <lab> [<node>...] [--duration D] [--interval D] [--max-interval D] [--empty-interval D] [--record FILE]`

func (a *app) neighCmd() *cobra.Command {
	f := &neighFlags{}
	cmd := &cobra.Command{
		Use:   "neigh <lab> [<node> [add|set|del|flush|use|params] ...] | neigh watch <lab> [<node>...]",
		Short: "Show, change and watch the kernel's neighbour (ARP/NDP) tables in a lab's nodes",
		Long: `Show, change and watch the neighbour tables (ARP for IPv4, NDP for IPv6)
inside a running lab's nodes, through netlink.

` + neighUsage + `

list      every node's (or one node's) entries: address, device, lladdr, state,
          flags, and the kernel's cache-info ages (updated, used, confirmed).
          Multicast entries (always NOARP) are left out unless --multicast.
add/set   create (add fails if the entry exists) or create-or-replace an entry;
          --state defaults to permanent; states: permanent, noarp, reachable,
          stale, delay, probe, none.
del       delete an entry (a proxy entry with --proxy).
flush     delete the dynamic entries (keeps PERMANENT, NOARP and proxy entries,
          as "ip neigh flush" does; --all deletes those too).
use       act as if a packet was sent to the neighbour (NTF_USE): a STALE
          entry goes to DELAY; a missing one is created and resolved.
params    the neighbour parameters per device (RTM_GETNEIGHTBL, what
          "ip ntable show" prints): the CURRENT randomised reachable_time that
          no sysctl shows, base_reachable_time, delay_first_probe_time,
          gc_stale_time, retrans_time, probes; and the table-wide (global)
          entry count, gc_thresh1-3 and GC run counters.
watch     print state transitions live, one line each:
            12.345s h1 eth0 192.0.2.2 REACHABLE -> STALE 02:00:00:00:00:02 event
          The last word says how netlab knows: event (a kernel notification),
          poll (a table dump; the kernel does not notify REACHABLE->DELAY,
          STALE->DELAY or NONE->INCOMPLETE), inferred (required by the state
          machine but too short to sample), initial (state at start). Lost
          notifications (socket overrun) are printed as a GAP. Each node is
          polled every --interval while it holds an entry in a timer state
          (INCOMPLETE, REACHABLE, DELAY, PROBE), backing off to --max-interval
          otherwise and to --empty-interval while its table is empty (an
          entry appears only as an unnotified INCOMPLETE, which lasts 3 s
          when unanswered): every state lasting longer than the interval in
          force is recorded. -o jsonl prints one JSON object per line; --record FILE
          also writes the timeline to FILE (CSV if it ends in .csv, else JSONL).
          Runs until --duration passes or it is interrupted.

Times in JSON are integer milliseconds (*_ms) or RFC 3339 instants; states
are upper case.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && args[0] == "watch" {
				return a.neighWatch(cmd, args[1:], f)
			}
			if a.output == "jsonl" {
				return &usageError{errors.New("-o jsonl is for streams (neigh watch); use -o json")}
			}
			switch {
			case len(args) == 0:
				return &usageError{errors.New("usage:\n" + neighUsage)}
			case len(args) <= 2:
				return a.neighList(cmd, args, f)
			}
			return a.neighVerb(cmd.Context(), cmd, args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device (interface) of the entry; for list and flush: only this device")
	fl.StringVar(&f.lladdr, "lladdr", "", "link-layer address (MAC) for add/set")
	fl.StringVar(&f.state, "state", "", "state for add/set (default permanent)")
	fl.BoolVar(&f.router, "router", false, "add/set: mark the neighbour as a router (IPv6)")
	fl.BoolVar(&f.proxy, "proxy", false, "add/set/del: a proxy entry (answer ARP/NDP for this address)")
	fl.BoolVar(&f.managed, "managed", false, "add/set: a managed entry (the kernel keeps it resolved)")
	fl.BoolVar(&f.all, "all", false, "flush: also delete PERMANENT, NOARP and proxy entries")
	fl.BoolVar(&f.multicast, "multicast", false, "list/watch: include the kernel's multicast entries")
	fl.DurationVar(&f.duration, "duration", 0, "watch: stop after this long (0: until interrupted)")
	fl.DurationVar(&f.interval, "interval", neighctl.DefaultInterval, "watch: poll interval while an entry is in a timer state")
	fl.DurationVar(&f.maxIntv, "max-interval", neighctl.DefaultMaxInterval, "watch: slowest poll interval (when no entry is in a timer state)")
	fl.DurationVar(&f.emptyIntv, "empty-interval", neighctl.DefaultEmptyInterval, "watch: slowest poll interval of an empty table")
	fl.StringVar(&f.record, "record", "", "watch: also write the timeline to this file (.csv: CSV, else JSONL)")
	return cmd
}

// onlyFlags refuses flags that the verb does not use.
func onlyFlags(cmd *cobra.Command, verb string, allowed ...string) error {
	var bad []string
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		for _, a := range allowed {
			if fl.Name == a {
				return
			}
		}
		if fl.Name == "output" || fl.Name == "state-dir" || fl.Name == "verbose" {
			return
		}
		bad = append(bad, "--"+fl.Name)
	})
	if len(bad) > 0 {
		return &usageError{fmt.Errorf("neigh %s does not take %s", verb, strings.Join(bad, ", "))}
	}
	return nil
}

// nodeConn opens a node's namespace and a neighctl connection in it.
func (a *app) nodeConn(labName, node string) (*neighctl.Conn, error) {
	ns, err := lab.OpenNode(labName, node, a.opts())
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	c, err := neighctl.Open(ns)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return c, nil
}

// nodesArg returns the named nodes, or every node of the lab.
func (a *app) nodesArg(labName string, names []string) ([]string, error) {
	if len(names) > 0 {
		return names, nil
	}
	return lab.Nodes(labName, a.opts())
}

type nodeEntry struct {
	Node string `json:"node"`
	neighctl.Entry
}

func (a *app) neighList(cmd *cobra.Command, args []string, f *neighFlags) error {
	if err := onlyFlags(cmd, "list", "dev", "multicast"); err != nil {
		return err
	}
	nodes, err := a.nodesArg(args[0], args[1:])
	if err != nil {
		return err
	}
	var all []nodeEntry
	for _, node := range nodes {
		c, err := a.nodeConn(args[0], node)
		if err != nil {
			return err
		}
		es, err := c.List(cmd.Context(), neighctl.Filter{Dev: f.dev, Multicast: f.multicast})
		c.Close()
		if errors.Is(err, neighctl.ErrNoDevice) && len(args) == 1 {
			continue // --dev across all nodes: only nodes that have it
		}
		if err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		for _, e := range es {
			all = append(all, nodeEntry{node, e})
		}
	}
	if a.output == "json" {
		if all == nil {
			all = []nodeEntry{}
		}
		return a.json(map[string]any{"lab": args[0], "entries": all})
	}
	if len(all) == 0 {
		fmt.Fprintln(a.stdout, "no neighbour entries")
		return nil
	}
	tw := newTable(a.stdout, "NODE", "DEV", "IP", "LLADDR", "STATE", "FLAGS", "PROBES", "UPDATED", "USED", "CONFIRMED")
	for _, e := range all {
		ages := []string{"", "", ""}
		if !e.Updated.IsZero() {
			ages = []string{ago(e.UpdatedAgoMS), ago(e.UsedAgoMS), ago(e.ConfirmedAgoMS)}
		}
		tw.row(e.Node, e.Dev, e.IP.String(), e.LLAddr, e.State.String(), strings.Join(e.Flags.Names(), ","), fmt.Sprint(e.Probes), ages[0], ages[1], ages[2])
	}
	return tw.flush()
}

func ago(ms int64) string { return fmt.Sprintf("%.2fs ago", float64(ms)/1000) }

func (a *app) neighVerb(ctx context.Context, cmd *cobra.Command, args []string, f *neighFlags) error {
	labName, node, verb, rest := args[0], args[1], args[2], args[3:]
	need := func(n int, what string) error {
		if len(rest) != n {
			return &usageError{fmt.Errorf("neigh %s takes %s\nusage:\n%s", verb, what, neighUsage)}
		}
		return nil
	}
	var spec neighctl.Spec
	parseSpec := func(flags ...string) error {
		if err := onlyFlags(cmd, verb, flags...); err != nil {
			return err
		}
		if err := need(1, "one IP address"); err != nil {
			return err
		}
		ip, err := netip.ParseAddr(rest[0])
		if err != nil {
			return &usageError{fmt.Errorf("neigh %s: %q is not an IP address", verb, rest[0])}
		}
		if f.dev == "" {
			return &usageError{fmt.Errorf("neigh %s needs --dev", verb)}
		}
		spec = neighctl.Spec{IP: ip.Unmap(), Dev: f.dev, Router: f.router, Proxy: f.proxy, Managed: f.managed, State: neighctl.Permanent}
		if f.proxy || f.managed {
			spec.State = neighctl.None // proxy entries have no state; managed ones are resolved by the kernel
		}
		if f.lladdr != "" {
			if spec.LLAddr, err = net.ParseMAC(f.lladdr); err != nil {
				return &usageError{fmt.Errorf("neigh %s: --lladdr %q: %w", verb, f.lladdr, err)}
			}
		}
		if f.state != "" {
			st, err := neighctl.ParseState(f.state)
			if err != nil || st == neighctl.Absent {
				return &usageError{fmt.Errorf("neigh %s: --state %q: want permanent, noarp, reachable, stale, delay, probe or none", verb, f.state)}
			}
			spec.State = st
		}
		return nil
	}
	var err error
	switch verb {
	case "add", "set":
		err = parseSpec("dev", "lladdr", "state", "router", "proxy", "managed")
	case "del":
		err = parseSpec("dev", "proxy")
	case "use":
		err = parseSpec("dev")
	case "flush":
		if err = onlyFlags(cmd, verb, "dev", "all"); err == nil {
			err = need(0, "no arguments (use --dev to pick a device)")
		}
	case "params":
		if err = onlyFlags(cmd, verb); err == nil && len(rest) > 1 {
			err = &usageError{errors.New("neigh params takes at most one device")}
		}
	default:
		return &usageError{fmt.Errorf("neigh: unknown verb %q (want add, set, del, flush, use or params)\nusage:\n%s", verb, neighUsage)}
	}
	if err != nil {
		return err
	}
	c, err := a.nodeConn(labName, node)
	if err != nil {
		return err
	}
	defer c.Close()
	wrap := func(err error) error {
		if err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		return nil
	}
	switch verb {
	case "add":
		return wrap(c.Add(ctx, spec))
	case "set":
		return wrap(c.Set(ctx, spec))
	case "del":
		return wrap(c.Del(ctx, spec))
	case "use":
		return wrap(c.Use(ctx, spec))
	case "flush":
		done, err := c.Flush(ctx, neighctl.FlushOptions{Dev: f.dev, All: f.all})
		if a.output == "json" {
			out := []nodeEntry{}
			for _, e := range done {
				out = append(out, nodeEntry{node, e})
			}
			if jerr := a.json(map[string]any{"deleted": out}); jerr != nil {
				return jerr
			}
		} else {
			for _, e := range done {
				fmt.Fprintf(a.stdout, "deleted %s dev %s %s\n", e.IP, e.Dev, e.State)
			}
		}
		return wrap(err)
	}
	dev := ""
	if len(rest) == 1 {
		dev = rest[0]
	}
	return wrap(a.neighParams(ctx, c, node, dev))
}

func (a *app) neighParams(ctx context.Context, c *neighctl.Conn, node, dev string) error {
	ts, err := c.Tables(ctx, 0)
	if err != nil {
		return err
	}
	found := dev == ""
	for i := range ts {
		if dev == "" {
			continue
		}
		var keep []neighctl.Params
		for _, p := range ts[i].Devices {
			if p.Dev == dev {
				keep = append(keep, p)
				found = true
			}
		}
		ts[i].Devices = keep
	}
	if !found {
		return fmt.Errorf("params: %w: %s", neighctl.ErrNoDevice, dev)
	}
	if a.output == "json" {
		return a.json(map[string]any{"node": node, "tables": ts})
	}
	tw := newTable(a.stdout, "FAMILY", "DEV", "REACHABLE", "BASE_REACHABLE", "DELAY_PROBE", "GC_STALE", "RETRANS", "UCAST", "MCAST", "APP", "LOCKTIME")
	for _, t := range ts {
		for _, p := range t.Devices {
			tw.row(t.Family, p.Dev, ms(p.ReachableTimeMS), ms(p.BaseReachableTimeMS), ms(p.DelayFirstProbeTimeMS), ms(p.GCStaleTimeMS),
				ms(p.RetransTimeMS), fmt.Sprint(p.UcastProbes), fmt.Sprint(p.McastProbes), fmt.Sprint(p.AppProbes), ms(p.LocktimeMS))
		}
	}
	if err := tw.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "\nglobal tables (all namespaces; GC settings from the host's neigh/default):")
	tw = newTable(a.stdout, "FAMILY", "TABLE", "ENTRIES", "GC_THRESH1", "GC_THRESH2", "GC_THRESH3", "GC_INTERVAL", "PERIODIC_GC_RUNS", "FORCED_GC_RUNS")
	for _, t := range ts {
		tw.row(t.Family, t.Name, fmt.Sprint(t.Entries), fmt.Sprint(t.Thresh1), fmt.Sprint(t.Thresh2), fmt.Sprint(t.Thresh3), ms(t.GCIntervalMS),
			fmt.Sprint(t.Stats.PeriodicGCRuns), fmt.Sprint(t.Stats.ForcedGCRuns))
	}
	if err := tw.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "REACHABLE is the current random draw from [BASE/2, 3*BASE/2): how long an entry stays REACHABLE now.")
	return nil
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

func (a *app) neighWatch(cmd *cobra.Command, args []string, f *neighFlags) error {
	if err := onlyFlags(cmd, "watch", "duration", "interval", "max-interval", "empty-interval", "record", "multicast"); err != nil {
		return err
	}
	if len(args) == 0 {
		return &usageError{errors.New("usage: netlab neigh watch <lab> [<node>...]")}
	}
	if f.duration < 0 {
		return &usageError{fmt.Errorf("--duration %s: must not be negative", f.duration)}
	}
	if !cmd.Flags().Changed("max-interval") {
		f.maxIntv = max(f.maxIntv, f.interval)
	}
	if !cmd.Flags().Changed("empty-interval") {
		f.emptyIntv = max(f.emptyIntv, f.maxIntv)
	}
	opts := neighctl.WatchOptions{Interval: f.interval, MaxInterval: f.maxIntv, EmptyInterval: f.emptyIntv, Multicast: f.multicast}

	if err := checkWatchOptions(opts); err != nil {
		return &usageError{err}
	}
	nodes, err := a.nodesArg(args[0], args[1:])
	if err != nil {
		return err
	}
	var targets []neighctl.Target
	defer func() {
		for _, t := range targets {
			t.Conn.Close()
		}
	}()
	for _, node := range nodes {
		c, err := a.nodeConn(args[0], node)
		if err != nil {
			return err
		}
		targets = append(targets, neighctl.Target{Node: node, Conn: c})
	}
	// Say when the watch is ready (subscribed, initial tables recorded):
	// from then on nothing is missed. Scripts wait for this line.
	opts.OnReady = func() {
		until := "until interrupted"
		if f.duration > 0 {
			until = "for " + f.duration.String()
		}
		fmt.Fprintf(a.stderr, "watching %s: ready (poll %s, up to %s when idle, %s when empty) %s\n", strings.Join(nodes, ", "), opts.Interval, opts.MaxInterval, opts.EmptyInterval, until)
	}
	var rec *neighctl.Recorder
	if f.record != "" {
		file, err := os.OpenFile(f.record, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("--record: %w", err)
		}
		defer file.Close()
		if rec, err = neighctl.NewRecorder(file, neighctl.FormatFor(f.record)); err != nil {
			return fmt.Errorf("--record %s: %w", f.record, err)
		}
	}
	ctx := cmd.Context()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	// The watch holds the nodes' namespaces open, so they outlive `netlab
	// down`: stop when the lab's state is gone instead of watching a
	// namespace nobody can reach any more.
	ctx, wentDown, stopWatch := stopWhenDown(ctx, args[0], a.opts())
	defer stopWatch()
	var stream *neighctl.Recorder
	if a.output == "jsonl" {
		stream, _ = neighctl.NewRecorder(a.stdout, neighctl.FormatJSONL)
	}
	all := []neighctl.Record{}
	var werr error
	transitions, gaps := 0, 0
	err = neighctl.WatchMany(ctx, targets, opts, func(r neighctl.Record) {
		if r.Kind == neighctl.KindGap {
			gaps++
		} else if r.Source != neighctl.SourceInitial {
			transitions++
		}
		switch {
		case stream != nil:
			werr = errors.Join(werr, stream.Write(r))
		case a.output == "json":
			all = append(all, r)
		default:
			fmt.Fprintln(a.stdout, r.String())
		}
		if rec != nil {
			werr = errors.Join(werr, rec.Write(r))
		}
	})
	if a.output == "json" {
		werr = errors.Join(werr, a.json(map[string]any{"lab": args[0], "records": all}))
	}
	if wentDown() {
		fmt.Fprintf(a.stderr, "lab %s went down: watch stopped\n", args[0])
	}
	summary := fmt.Sprintf("watched %d node(s): %d transition(s), %d gap(s)", len(targets), transitions, gaps)
	if rec != nil {
		summary += fmt.Sprintf("; timeline (%d records) in %s", rec.Count(), f.record)
	}
	fmt.Fprintln(a.stderr, summary)
	return errors.Join(err, werr)
}

func checkWatchOptions(o neighctl.WatchOptions) error {
	if o.Interval < neighctl.MinInterval || o.Interval > neighctl.MaxInterval {
		return fmt.Errorf("--interval %s: want %s..%s", o.Interval, neighctl.MinInterval, neighctl.MaxInterval)
	}
	if o.MaxInterval < o.Interval || o.MaxInterval > neighctl.MaxInterval {
		return fmt.Errorf("--max-interval %s: want --interval (%s)..%s", o.MaxInterval, o.Interval, neighctl.MaxInterval)
	}
	if o.EmptyInterval < o.MaxInterval || o.EmptyInterval > neighctl.MaxInterval {
		return fmt.Errorf("--empty-interval %s: want --max-interval (%s)..%s", o.EmptyInterval, o.MaxInterval, neighctl.MaxInterval)
	}
	return nil
}
