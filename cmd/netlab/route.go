package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/routectl"
	"github.com/netlabdev/netlab/topology"
)

const routeUsage = `netlab route <lab> [<node>] [--table T]      routes (every table) and rules
netlab route <lab> <node> get <dst> [--from SRC] [--iif DEV] [--oif DEV] [--mark N]`

// routeFlags are the flags of `netlab route`.
type routeFlags struct {
	table, from, iif, oif, mark string
}

func (a *app) routeCmd() *cobra.Command {
	f := &routeFlags{}
	cmd := &cobra.Command{
		Use:   "route <lab> [<node>] | route <lab> <node> get <dst> [flags]",
		Short: "Show a lab's routes and policy rules, and ask the kernel which path a packet takes",
		Long: `Show the routes (every table: main, local, and the lab's own) and the
policy-routing rules of a running lab's nodes, and ask a node's kernel how
it would route one packet (RTM_GETROUTE, what "ip route get" does), all
through netlink.

` + routeUsage + `

list      each route: table, type, destination, gateway(s), device, source,
          metric, protocol, scope; each rule: priority, family, selectors
          (from, to, iif, oif, fwmark, "not"), action and table. Tables the
          lab names in a node's tables: map are shown by name (read from the
          lab file recorded at up, if it is still there), others by number
          or as main/local/default. --table shows one table.
get       the kernel's own decision for a packet to <dst>: from a source
          (--from, as policy rules see it), arriving on a device (--iif: the
          input path, with forwarding and rp_filter; IPv4 needs --from),
          forced out a device (--oif), with a firewall mark (--mark, decimal
          or 0x hex). Printed like "ip route get" (the table as a number,
          "  # table NAME" when the lab names it). When the kernel refuses
          (no route, an unreachable/prohibit/blackhole route or rule, a
          martian or reverse-path-filtered source), the refusal IS its answer:
          netlab prints it ("unreachable 203.0.113.1: no route to host") and
          exits 0; -o json has it as "type", "error" and "errno".

Exit codes: 0 the kernel answered, 1 the lab is not up or the query failed,
2 usage (bad address, unknown node), 3 privileges.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var getFlags []string
			for _, name := range []string{"from", "iif", "oif", "mark"} {
				if cmd.Flags().Changed(name) {
					getFlags = append(getFlags, "--"+name)
				}
			}
			switch {
			case len(args) == 0:
				return &usageError{errors.New("usage:\n" + routeUsage)}
			case len(args) <= 2:
				if len(getFlags) > 0 {
					return &usageError{fmt.Errorf("route list does not take %s (they are for route <lab> <node> get <dst>)", strings.Join(getFlags, ", "))}
				}
				return a.routeList(cmd.Context(), args, f)
			case args[2] != "get":
				return &usageError{fmt.Errorf("route: unknown verb %q (want get)\nusage:\n%s", args[2], routeUsage)}
			}
			return a.routeGet(cmd.Context(), cmd, args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.table, "table", "", "list: only this table (a number, main, local, default, or a name from the node's tables:)")
	fl.StringVar(&f.from, "from", "", "get: the packet's source address")
	fl.StringVar(&f.iif, "iif", "", "get: as if the packet arrived on this device (IPv4 needs --from)")
	fl.StringVar(&f.oif, "oif", "", "get: force the output device")
	fl.StringVar(&f.mark, "mark", "", "get: the packet's firewall mark (decimal or 0x hex)")
	return cmd
}

// parseQuery checks get's arguments; every mistake is a usage error, found
// before any lab is touched.
func parseQuery(rest []string, f *routeFlags) (routectl.Query, error) {
	var q routectl.Query
	if len(rest) != 1 {
		return q, &usageError{fmt.Errorf("route get takes one destination address, got %d argument(s)\nusage:\n%s", len(rest), routeUsage)}
	}
	to, err := netip.ParseAddr(rest[0])
	if err != nil || to.Zone() != "" {
		return q, &usageError{fmt.Errorf("route get: %q is not an IP address", rest[0])}
	}
	q.To = to.Unmap()
	if f.from != "" {
		from, err := netip.ParseAddr(f.from)
		if err != nil || from.Zone() != "" {
			return q, &usageError{fmt.Errorf("route get: --from %q is not an IP address", f.from)}
		}
		q.From = from.Unmap()
		if q.From.Is4() != q.To.Is4() {
			return q, &usageError{fmt.Errorf("route get: --from %s and %s are of different families", q.From, q.To)}
		}
	}
	q.IIF, q.OIF = f.iif, f.oif
	for _, d := range []struct{ flag, dev string }{{"--iif", f.iif}, {"--oif", f.oif}} {
		if d.dev != "" {
			if err := topology.CheckIfName(d.dev); err != nil {
				return q, &usageError{fmt.Errorf("route get: %s: %w", d.flag, err)}
			}
		}
	}
	if q.IIF != "" && q.To.Is4() && !q.From.IsValid() {
		return q, &usageError{errors.New("route get: an IPv4 --iif query needs --from (the input path checks the source)")}
	}
	if f.mark != "" {
		s, base := f.mark, 10
		if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
			s, base = h, 16
		}
		m, err := strconv.ParseUint(s, base, 32)
		if err != nil {
			return q, &usageError{fmt.Errorf("route get: --mark %q: want a 32-bit number, decimal or 0x hex", f.mark)}
		}
		q.Mark = uint32(m)
	}
	return q, nil
}

// labTables reads the table names of a running lab's nodes from the lab
// file recorded at up (node -> number -> name). It is best effort: nil when
// the file is gone, unreadable, or now names another lab.
func (a *app) labTables(labName string) map[string]map[uint32]string {
	labs, err := lab.List(a.opts())
	if err != nil {
		return nil
	}
	for _, s := range labs {
		if s.Name != labName || s.File == "" {
			continue
		}
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil
		}
		l, err := topology.Parse(s.File, b)
		if err != nil || l.Name != labName {
			return nil
		}
		out := map[string]map[uint32]string{}
		for node, n := range l.Nodes {
			if n == nil {
				continue
			}
			for name, id := range n.Tables {
				if out[node] == nil {
					out[node] = map[uint32]string{}
				}
				out[node][id] = name
			}
		}
		return out
	}
	return nil
}

// tableName names a table: the lab's name for it, else main, local or
// default, else its number.
func tableName(names map[uint32]string, id uint32) string {
	if n, ok := names[id]; ok {
		return n
	}
	return topology.TableName(id)
}

// tableArg resolves --table for a node: a number, main/local/default, or a
// name the lab file gives the node.
func tableArg(s string, names map[uint32]string) (uint32, error) {
	for id, n := range names {
		if n == s {
			return id, nil
		}
	}
	id, err := topology.TableID(nil, topology.Value(s))
	if err != nil {
		return 0, &usageError{fmt.Errorf("--table: %w", err)}
	}
	return id, nil
}

func familyName(fam int) string {
	if fam == unix.AF_INET6 {
		return "inet6"
	}
	return "inet"
}

// routeConn opens a node's namespace and a routectl connection in it.
func (a *app) routeConn(labName, node string) (*routectl.Conn, error) {
	ns, err := lab.OpenNode(labName, node, a.opts())
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	c, err := routectl.Open(ns)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return c, nil
}

// routeEntry is one listed route; rule Entry one listed rule.
type routeEntry struct {
	Node      string `json:"node"`
	Family    string `json:"family"`
	TableName string `json:"table_name"`
	routectl.Route
}

type ruleEntry struct {
	Node      string `json:"node"`
	Family    string `json:"family"`
	TableName string `json:"table_name,omitempty"`
	routectl.Rule
}

func (a *app) routeList(ctx context.Context, args []string, f *routeFlags) error {
	labName := args[0]
	nodes, err := a.nodesArg(labName, args[1:])
	if err != nil {
		return err
	}
	tables := a.labTables(labName)
	routes, rules := []routeEntry{}, []ruleEntry{}
	for _, node := range nodes {
		var filter routectl.Filter
		if f.table != "" {
			if filter.Table, err = tableArg(f.table, tables[node]); err != nil {
				return err
			}
		}
		c, err := a.routeConn(labName, node)
		if err != nil {
			return err
		}
		rs, err := c.Routes(ctx, filter)
		var ru []routectl.Rule
		if err == nil && f.table == "" {
			ru, err = c.Rules(ctx, 0)
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		for _, r := range rs {
			routes = append(routes, routeEntry{node, familyName(routeFamily(r)), tableName(tables[node], r.Table), r})
		}
		for _, r := range ru {
			e := ruleEntry{Node: node, Family: familyName(r.Family), Rule: r}
			if r.Action == routectl.ActionLookup || r.Action == "" {
				e.TableName = tableName(tables[node], r.Table)
			}
			rules = append(rules, e)
		}
	}
	if a.output == "json" {
		return a.json(map[string]any{"lab": labName, "routes": routes, "rules": rules})
	}
	tw := newTable(a.stdout, "NODE", "TABLE", "TYPE", "TO", "VIA", "DEV", "SRC", "METRIC", "PROTO", "SCOPE", "FLAGS")
	for _, e := range routes {
		via, dev, flags := addrString(e.Via), e.Dev, []string{}
		if e.Onlink {
			flags = append(flags, "onlink")
		}
		if len(e.Nexthops) > 0 {
			var vias, devs, weights []string
			for _, nh := range e.Nexthops {
				vias, devs = append(vias, addrString(nh.Via)), append(devs, nh.Dev)
				weights = append(weights, strconv.Itoa(max(nh.Weight, 1)))
			}
			via, dev = strings.Join(vias, ","), strings.Join(devs, ",")
			flags = append(flags, "weights "+strings.Join(weights, ","))
		}
		typ := e.Type
		if typ == "" {
			typ = routectl.TypeUnicast
		}
		tw.row(e.Node, e.TableName, typ, prefixString(e.To), via, dev, addrString(e.Src), strconv.FormatUint(uint64(e.Metric), 10), e.Protocol, e.Scope, strings.Join(flags, " "))
	}
	if err := tw.flush(); err != nil {
		return err
	}
	if f.table != "" {
		return nil
	}
	fmt.Fprintln(a.stdout)
	tw = newTable(a.stdout, "NODE", "PRIORITY", "FAMILY", "FROM", "TO", "IIF", "OIF", "FWMARK", "ACTION", "TABLE")
	for _, e := range rules {
		from, to := "all", ""
		if e.From.IsValid() {
			from = prefixString(e.From)
		}
		if e.To.IsValid() {
			to = prefixString(e.To)
		}
		mark := ""
		if e.HasMark || e.Mark != 0 || e.Mask != 0 {
			mark = fmt.Sprintf("%#x", e.Mark)
			if e.Mask != 0 && e.Mask != 0xffffffff {
				mark += fmt.Sprintf("/%#x", e.Mask)
			}
		}
		action := e.Action
		if e.Invert {
			action = "not " + action
		}
		tw.row(e.Node, strconv.FormatUint(uint64(e.Priority), 10), e.Family, from, to, e.IIF, e.OIF, mark, action, e.TableName)
	}
	return tw.flush()
}

// routeFamily is a listed route's family (from its destination when the
// Family field is not set).
func routeFamily(r routectl.Route) int {
	if r.Family != 0 {
		return r.Family
	}
	if r.To.Addr().Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// prefixString prints a destination as ip does: default, a bare host.
func prefixString(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return ""
	case p.Bits() == 0:
		return "default"
	case p.IsSingleIP():
		return p.Addr().String()
	}
	return p.String()
}

// decisionJSON is get's JSON answer.
type decisionJSON struct {
	Lab       string `json:"lab"`
	Node      string `json:"node"`
	TableName string `json:"table_name,omitempty"`
	*routectl.Decision
}

func (a *app) routeGet(ctx context.Context, cmd *cobra.Command, args []string, f *routeFlags) error {
	if cmd.Flags().Changed("table") {
		return &usageError{errors.New("route get does not take --table (the kernel's rules pick the table)")}
	}
	labName, node := args[0], args[1]
	q, err := parseQuery(args[3:], f)
	if err != nil {
		return err
	}
	c, err := a.routeConn(labName, node)
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := c.Get(ctx, q)
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	names := a.labTables(labName)[node]
	name := ""
	if d.Err == "" {
		name = tableName(names, d.Table)
	}
	if a.output == "json" {
		return a.json(decisionJSON{Lab: labName, Node: node, TableName: name, Decision: d})
	}
	line := d.String()
	if n, ok := names[d.Table]; ok && d.Err == "" {
		line += "  # table " + n
	}
	fmt.Fprintln(a.stdout, line)
	return nil
}
