package topology

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

var pctRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?%$`)

func (v *validator) scenarioPass() {
	for i, s := range v.lab.Scenario {
		p := fmt.Sprintf("scenario[%d]", i)
		if s == nil {
			v.errf(p, "empty step")
			continue
		}
		acts := s.actions()
		if len(acts) != 1 {
			v.errf(p, "a step has exactly one action (ping, arping, tcp, expect, wait, sysctl, neigh, exec, sleep, link, firewall, capture); found %d: %s", len(acts), strings.Join(acts, ", "))
			continue
		}
		switch {
		case s.Ping != nil:
			v.node(p+".ping.from", s.Ping.From)
			v.addr(p+".ping.to", s.Ping.To)
			v.dev(p+".ping.dev", s.Ping.From, s.Ping.Dev)
			v.positive(p+".ping.count", s.Ping.Count, false)
			switch s.Ping.Expect {
			case "", "success", "failure":
			default:
				v.errf(p+".ping.expect", "expect %q: want success or failure", s.Ping.Expect)
			}
			if s.Ping.Loss != "" && !pctRE.MatchString(s.Ping.Loss) {
				v.errf(p+".ping.loss", "loss %q: want a percentage such as 0%%", s.Ping.Loss)
			}
		case s.Arping != nil:
			v.node(p+".arping.from", s.Arping.From)
			v.addr(p+".arping.to", s.Arping.To)
			v.dev(p+".arping.dev", s.Arping.From, s.Arping.Dev)
			v.positive(p+".arping.count", s.Arping.Count, false)
			switch s.Arping.Mode {
			case "", "request", "gratuitous", "reply":
			default:
				v.errf(p+".arping.mode", "mode %q: want request, gratuitous or reply", s.Arping.Mode)
			}
			switch s.Arping.Expect {
			case "", "success", "failure":
			default:
				v.errf(p+".arping.expect", "expect %q: want success or failure", s.Arping.Expect)
			}
		case s.TCP != nil:
			v.node(p+".tcp.from", s.TCP.From)
			v.addr(p+".tcp.to", s.TCP.To)
			if s.TCP.Port < 1 || s.TCP.Port > 65535 {
				v.errf(p+".tcp.port", "port %d out of range (1-65535)", s.TCP.Port)
			}
			if (s.TCP.Bytes == nil) == (s.TCP.Duration == nil) {
				v.errf(p+".tcp", "give exactly one of bytes or duration")
			}
		case s.Expect != nil:
			v.condition(p+".expect", s.Expect)
		case s.Wait != nil:
			v.condition(p+".wait", s.Wait)
		case s.Sysctl != nil:
			v.node(p+".sysctl.node", s.Sysctl.Node)
			if sk, err := ParseSysctlKey(s.Sysctl.Key); err != nil {
				v.errf(p+".sysctl.key", "%v", err)
			} else if sk.RootOnly {
				v.errf(p+".sysctl.key", "%s exists only in the root namespace; set it under host.sysctls", s.Sysctl.Key)
			}
			v.checkSysctlValue(p+".sysctl.value", string(s.Sysctl.Value))
		case s.Neigh != nil:
			v.node(p+".neigh.node", s.Neigh.Node)
			v.dev(p+".neigh.dev", s.Neigh.Node, s.Neigh.Dev)
			switch s.Neigh.Action {
			case "add", "set", "del", "use":
				v.addr(p+".neigh.to", s.Neigh.To)
				if s.Neigh.Dev == "" {
					v.errf(p+".neigh.dev", "neigh %s needs dev", s.Neigh.Action)
				}
			case "flush":
			default:
				v.errf(p+".neigh.action", "action %q: want add, set, del, flush or use", s.Neigh.Action)
			}
			if s.Neigh.LLAddr != "" {
				if _, err := net.ParseMAC(s.Neigh.LLAddr); err != nil {
					v.errf(p+".neigh.lladdr", "lladdr %q is not a link-layer address", s.Neigh.LLAddr)
				}
			}
			if s.Neigh.State != "" && !NeighStates[strings.ToUpper(s.Neigh.State)] {
				v.errf(p+".neigh.state", "state %q is not a state a neighbour entry can be given", s.Neigh.State)
			}
		case s.Exec != nil:
			v.node(p+".exec.node", s.Exec.Node)
			if len(s.Exec.Cmd) == 0 || s.Exec.Cmd[0] == "" {
				v.errf(p+".exec.cmd", "exec needs cmd: an argv list such as [ip, -j, neigh, show]")
			}
		case s.Sleep != nil:
		case s.Link != nil:
			v.node(p+".link.node", s.Link.Node)
			v.dev(p+".link.dev", s.Link.Node, s.Link.Dev)
			if s.Link.Dev == "" {
				v.errf(p+".link.dev", "link needs dev")
			}
			if st := strings.ToLower(s.Link.State); st != "up" && st != "down" {
				v.errf(p+".link.state", "state %q: want up or down", s.Link.State)
			}
		case s.Firewall != nil:
			n := v.node(p+".firewall.node", s.Firewall.Node)
			if (len(s.Firewall.Add) > 0) == s.Firewall.Flush {
				v.errf(p+".firewall", "give either add: [rules] or flush: true")
			}
			v.firewallPass(p+".firewall.add", n, s.Firewall.Add)
		case s.Capture != nil:
			v.node(p+".capture.node", s.Capture.Node)
			v.dev(p+".capture.dev", s.Capture.Node, s.Capture.Dev)
			if s.Capture.Dev == "" {
				v.errf(p+".capture.dev", "capture needs dev")
			}
		}
	}
}

func (s *Step) actions() []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(s.Ping != nil, "ping")
	add(s.Arping != nil, "arping")
	add(s.TCP != nil, "tcp")
	add(s.Expect != nil, "expect")
	add(s.Wait != nil, "wait")
	add(s.Sysctl != nil, "sysctl")
	add(s.Neigh != nil, "neigh")
	add(s.Exec != nil, "exec")
	add(s.Sleep != nil, "sleep")
	add(s.Link != nil, "link")
	add(s.Firewall != nil, "firewall")
	add(s.Capture != nil, "capture")
	return out
}

// Action returns the step's action key.
func (s *Step) Action() string {
	if a := s.actions(); len(a) == 1 {
		return a[0]
	}
	return ""
}

func (v *validator) node(path, name string) *RNode {
	if name == "" {
		v.errf(path, "missing node")
		return nil
	}
	n := v.nodes[name]
	if n == nil {
		v.errf(path, "unknown node %q", name)
	}
	return n
}

func (v *validator) dev(path, node, dev string) {
	if dev == "" {
		return
	}
	if n := v.nodes[node]; n != nil && n.Iface(dev) == nil {
		v.errf(path, "node %s has no interface %s", node, dev)
	}
}

func (v *validator) addr(path, s string) {
	if s == "" {
		v.errf(path, "missing address")
		return
	}
	if _, err := netip.ParseAddr(s); err != nil {
		v.errf(path, "%q is not an IP address", s)
	}
}

func (v *validator) positive(path string, n *int, zeroOK bool) {
	if n == nil {
		return
	}
	if *n < 0 || (*n == 0 && !zeroOK) {
		v.errf(path, "count %d: want a positive number", *n)
	}
}

func (v *validator) condition(p string, c *Condition) {
	n := v.node(p+".node", c.Node)
	kinds := 0
	for _, set := range []bool{c.Neighbor != "", c.Route != nil, c.Sysctl != "", c.FDB != ""} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		v.errf(p, "a condition checks exactly one of neighbor, route, sysctl or fdb")
		return
	}
	switch {
	case c.Neighbor != "":
		v.addr(p+".neighbor", c.Neighbor)
		for j, st := range c.State {
			if !AllNeighStates[strings.ToUpper(st)] {
				v.errf(fmt.Sprintf("%s.state[%d]", p, j), "unknown neighbour state %q", st)
			}
		}
		if len(c.State) == 0 && c.LLAddr == "" && !c.Absent {
			v.errf(p, "a neighbor condition needs state, lladdr or absent: true")
		}
		if c.Absent && len(c.State) > 0 {
			v.errf(p+".absent", "absent: true and state contradict each other")
		}
	case c.Route != nil:
		v.addr(p+".route.to", c.Route.To)
		if c.Route.From != "" {
			v.addr(p+".route.from", c.Route.From)
		}
		if n != nil && c.Route.IIF != "" {
			v.dev(p+".route.iif", c.Node, c.Route.IIF)
		}
		if c.Via == "" && c.Dev == "" && c.Type == "" {
			v.errf(p, "a route condition needs via, dev or type")
		}
		if c.Via != "" {
			v.addr(p+".via", c.Via)
		}
		v.dev(p+".dev", c.Node, c.Dev)
	case c.Sysctl != "":
		if _, err := ParseSysctlKey(c.Sysctl); err != nil {
			v.errf(p+".sysctl", "%v", err)
		}
		if c.Value == nil {
			v.errf(p+".value", "a sysctl condition needs value")
		}
	case c.FDB != "":
		if _, err := net.ParseMAC(c.FDB); err != nil {
			v.errf(p+".fdb", "fdb %q is not a MAC address", c.FDB)
		}
	}
	if c.Timeout != nil && c.Timeout.Duration <= 0 {
		v.errf(p+".timeout", "timeout must be positive")
	}
}
