package topology

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FormatVersion is the newest lab-file format version this netlab understands.
const FormatVersion = 1

// Limits from DESIGN.md "Names and keys".
const (
	MaxNodes       = 10000
	MaxLinks       = 100000
	MaxNameLen     = 32
	MaxIfNameLen   = 15
	MaxFileBytes   = 64 << 20
	maxYAMLNodes   = 4_000_000 // walk budget, guards alias bombs
	DefaultBridge  = "br0"
	DefaultAgeing  = 300 * time.Second
	NodeKindHost   = "host"
	NodeKindRouter = "router"
	NodeKindBridge = "bridge"
)

// Lab is one lab file. Field names (yaml tags) are the lab-file contract:
// extend, never rename.
type Lab struct {
	Version     int              `yaml:"version,omitempty" json:"version,omitempty"`
	Name        string           `yaml:"name" json:"name"`
	Description string           `yaml:"description,omitempty" json:"description,omitempty"`
	Host        *Host            `yaml:"host,omitempty" json:"host,omitempty"`
	Nodes       map[string]*Node `yaml:"nodes" json:"nodes"`
	Links       []*Link          `yaml:"links,omitempty" json:"links,omitempty"`
	Scenario    []*Step          `yaml:"scenario,omitempty" json:"scenario,omitempty"`

	// File is the path the lab was read from ("" for in-memory labs).
	File string `yaml:"-" json:"-"`
	// pos maps a path (nodes.h1.interfaces.eth0) to where it is written.
	pos map[string]Pos
	// topo is the resolved lab, set by a successful Validate.
	topo *Topo
}

// Host holds host-global knobs, applied in the root namespace through the
// host-knob ledger and restored when the last lab needing them goes down.
type Host struct {
	Sysctls map[string]Value `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`
}

// Node is one network namespace.
type Node struct {
	Kind       string                `yaml:"kind,omitempty" json:"kind,omitempty"`
	Bridge     *BridgeOpts           `yaml:"bridge,omitempty" json:"bridge,omitempty"`
	Sysctls    map[string]Value      `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`
	Interfaces map[string]*Interface `yaml:"interfaces,omitempty" json:"interfaces,omitempty"`
	Routes     []*Route              `yaml:"routes,omitempty" json:"routes,omitempty"`
	Tables     map[string]uint32     `yaml:"tables,omitempty" json:"tables,omitempty"`
	Rules      []*Rule               `yaml:"rules,omitempty" json:"rules,omitempty"`
	Neighbors  []*Neighbor           `yaml:"neighbors,omitempty" json:"neighbors,omitempty"`
	Firewall   []*FirewallRule       `yaml:"firewall,omitempty" json:"firewall,omitempty"`
}

// BridgeOpts configures a bridge device (a kind: bridge node's switch, or a
// bridge interface inside a node).
type BridgeOpts struct {
	Name       string    `yaml:"name,omitempty" json:"name,omitempty"`
	STP        *bool     `yaml:"stp,omitempty" json:"stp,omitempty"`
	AgeingTime *Duration `yaml:"ageing_time,omitempty" json:"ageing_time,omitempty"`
}

// Interface adds properties to a link end, or declares a bridge (kind: bridge)
// or lo.
type Interface struct {
	Kind       string    `yaml:"kind,omitempty" json:"kind,omitempty"`
	Addresses  []string  `yaml:"addresses,omitempty" json:"addresses,omitempty"`
	MAC        string    `yaml:"mac,omitempty" json:"mac,omitempty"`
	MTU        int       `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	State      string    `yaml:"state,omitempty" json:"state,omitempty"`
	Ports      []string  `yaml:"ports,omitempty" json:"ports,omitempty"`
	STP        *bool     `yaml:"stp,omitempty" json:"stp,omitempty"`
	AgeingTime *Duration `yaml:"ageing_time,omitempty" json:"ageing_time,omitempty"`
	// DAD waits for IPv6 duplicate address detection (default false: IPv6
	// addresses are added with nodad and usable at once).
	DAD bool `yaml:"dad,omitempty" json:"dad,omitempty"`
}

// Link is one veth pair.
type Link struct {
	Endpoints []string `yaml:"endpoints" json:"endpoints"`
	MTU       int      `yaml:"mtu,omitempty" json:"mtu,omitempty"`
	Shape     *Shape   `yaml:"shape,omitempty" json:"shape,omitempty"`
	Impair    *Impair  `yaml:"impair,omitempty" json:"impair,omitempty"`
}

// Shape is a token-bucket filter (tc tbf) on both ends of a link.
type Shape struct {
	Rate    string    `yaml:"rate" json:"rate"`
	Burst   string    `yaml:"burst,omitempty" json:"burst,omitempty"`
	Latency *Duration `yaml:"latency,omitempty" json:"latency,omitempty"`
}

// Impair is a tc netem impairment on both ends of a link.
type Impair struct {
	Delay  *Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	Jitter *Duration `yaml:"jitter,omitempty" json:"jitter,omitempty"`
	Loss   string    `yaml:"loss,omitempty" json:"loss,omitempty"`
}

// Route is one route in a node.
type Route struct {
	To       string     `yaml:"to" json:"to"`
	Via      string     `yaml:"via,omitempty" json:"via,omitempty"`
	Dev      string     `yaml:"dev,omitempty" json:"dev,omitempty"`
	Src      string     `yaml:"src,omitempty" json:"src,omitempty"`
	Metric   *uint32    `yaml:"metric,omitempty" json:"metric,omitempty"`
	Table    Value      `yaml:"table,omitempty" json:"table,omitempty"`
	Type     string     `yaml:"type,omitempty" json:"type,omitempty"`
	Scope    string     `yaml:"scope,omitempty" json:"scope,omitempty"`
	Onlink   bool       `yaml:"onlink,omitempty" json:"onlink,omitempty"`
	Nexthops []*Nexthop `yaml:"nexthops,omitempty" json:"nexthops,omitempty"`
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Via    string `yaml:"via,omitempty" json:"via,omitempty"`
	Dev    string `yaml:"dev,omitempty" json:"dev,omitempty"`
	Weight int    `yaml:"weight,omitempty" json:"weight,omitempty"`
	Onlink bool   `yaml:"onlink,omitempty" json:"onlink,omitempty"`
}

// Rule is one policy-routing rule.
type Rule struct {
	Priority *uint32 `yaml:"priority,omitempty" json:"priority,omitempty"`
	From     string  `yaml:"from,omitempty" json:"from,omitempty"`
	To       string  `yaml:"to,omitempty" json:"to,omitempty"`
	IIF      string  `yaml:"iif,omitempty" json:"iif,omitempty"`
	OIF      string  `yaml:"oif,omitempty" json:"oif,omitempty"`
	FWMark   Value   `yaml:"fwmark,omitempty" json:"fwmark,omitempty"`
	Table    Value   `yaml:"table,omitempty" json:"table,omitempty"`
	Action   string  `yaml:"action,omitempty" json:"action,omitempty"`
	Invert   bool    `yaml:"invert,omitempty" json:"invert,omitempty"`
	Family   string  `yaml:"family,omitempty" json:"family,omitempty"`
}

// Neighbor is a static neighbour entry.
type Neighbor struct {
	To     string `yaml:"to" json:"to"`
	LLAddr string `yaml:"lladdr,omitempty" json:"lladdr,omitempty"`
	Dev    string `yaml:"dev" json:"dev"`
	State  string `yaml:"state,omitempty" json:"state,omitempty"`
	Proxy  bool   `yaml:"proxy,omitempty" json:"proxy,omitempty"`
	Router bool   `yaml:"router,omitempty" json:"router,omitempty"`
}

// FirewallRule is one nftables rule in the node's netlab-owned table. Every
// key but chain and action is a match; a rule without matches matches every
// IPv4 and IPv6 packet of its chain (never ARP: ARP is not IP, so the inet
// family's hooks do not see it).
type FirewallRule struct {
	Chain  string `yaml:"chain" json:"chain"`
	Action string `yaml:"action" json:"action"`
	// Family limits the rule to ipv4 or ipv6 (default: both, or the one that
	// proto icmp/icmpv6, src or dst imply).
	Family   string `yaml:"family,omitempty" json:"family,omitempty"`
	Proto    string `yaml:"proto,omitempty" json:"proto,omitempty"`
	ICMPType string `yaml:"icmp_type,omitempty" json:"icmp_type,omitempty"`
	Src      string `yaml:"src,omitempty" json:"src,omitempty"`
	Dst      string `yaml:"dst,omitempty" json:"dst,omitempty"`
	IIF      string `yaml:"iif,omitempty" json:"iif,omitempty"`
	OIF      string `yaml:"oif,omitempty" json:"oif,omitempty"`
	Sport    int    `yaml:"sport,omitempty" json:"sport,omitempty"`
	Dport    int    `yaml:"dport,omitempty" json:"dport,omitempty"`
}

// Value is a scalar written as a string, number or boolean (sysctl values,
// table names or numbers, fwmarks). It keeps the text as written.
type Value string

// UnmarshalYAML accepts any scalar.
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a scalar value, got %s", n.Line, kindName(n.Kind))
	}
	*v = Value(n.Value)
	return nil
}

// Duration is a Go/YAML duration such as 300ms or 5s.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a duration string; a bare 0 is accepted.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 5s, got %s", n.Line, kindName(n.Kind))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as Go text ("5s").
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// MarshalYAML writes the duration as Go text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ParseDuration parses a lab-file duration: Go syntax, non-negative; "0" alone
// is allowed.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 300ms, 5s, 2m)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return v, nil
}

// States is one state or a list of states.
type States []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (s *States) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = States{n.Value}
		return nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a state name, got %s", c.Line, kindName(c.Kind))
			}
			out = append(out, c.Value)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("line %d: want a state or a list of states, got %s", n.Line, kindName(n.Kind))
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	return "nothing"
}
