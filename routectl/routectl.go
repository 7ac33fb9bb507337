package routectl

import (
	"context"
	"errors"
	"net/netip"

	"github.com/vishvananda/netns"
)

// Well-known table numbers.
const (
	TableDefault uint32 = 253
	TableMain    uint32 = 254
	TableLocal   uint32 = 255
)

// Route types (the kernel's RTN_* words, as ip prints them).
const (
	TypeUnicast     = "unicast"
	TypeLocal       = "local"
	TypeBroadcast   = "broadcast"
	TypeAnycast     = "anycast"
	TypeMulticast   = "multicast"
	TypeBlackhole   = "blackhole"
	TypeUnreachable = "unreachable"
	TypeProhibit    = "prohibit"
	TypeThrow       = "throw"
)

// Route is a route to apply, or one the kernel listed.
type Route struct {
	// Family is unix.AF_INET or unix.AF_INET6; derived from To if zero.
	Family int `json:"-"`
	// To is the destination; 0.0.0.0/0 or ::/0 for default.
	To  netip.Prefix `json:"to"`
	Via netip.Addr   `json:"via,omitzero"`
	Dev string       `json:"dev,omitempty"`
	Src netip.Addr   `json:"src,omitzero"`
	// Metric is the route priority (ip's "metric").
	Metric uint32 `json:"metric"`
	// Table is the table number; 0 means main.
	Table uint32 `json:"table"`
	// Type is one of the Type* words; "" means unicast.
	Type string `json:"type"`
	// Scope is "global", "link", "host" or "" (the kernel's default for
	// the route: link for a directly connected unicast route without via,
	// host for local, global otherwise).
	Scope  string `json:"scope,omitempty"`
	Onlink bool   `json:"onlink,omitempty"`
	// Nexthops makes a multipath route (Via/Dev then stay empty).
	Nexthops []Nexthop `json:"nexthops,omitempty"`
	// Protocol is who made the route when listed: kernel, boot, static, ...
	Protocol string `json:"protocol,omitempty"`
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Via    netip.Addr `json:"via,omitzero"`
	Dev    string     `json:"dev,omitempty"`
	Weight int        `json:"weight"` // 1..256; 0 means 1
	Onlink bool       `json:"onlink,omitempty"`
}

// Rule actions (the kernel's FR_ACT_* words).
const (
	ActionLookup      = "lookup"
	ActionBlackhole   = "blackhole"
	ActionUnreachable = "unreachable"
	ActionProhibit    = "prohibit"
)

// Rule is a policy-routing rule to apply, or one the kernel listed.
type Rule struct {
	// Family is unix.AF_INET or unix.AF_INET6; derived from From/To if zero
	// (a rule with neither needs it).
	Family int `json:"-"`
	// Priority is the rule's preference. HasPriority false lets the kernel
	// pick (just below the lowest existing one), as ip does.
	Priority    uint32       `json:"priority"`
	HasPriority bool         `json:"-"`
	From        netip.Prefix `json:"from,omitzero"`
	To          netip.Prefix `json:"to,omitzero"`
	IIF         string       `json:"iif,omitempty"`
	OIF         string       `json:"oif,omitempty"`
	// Mark/Mask match the packet's fwmark when HasMark (Mask 0 means
	// 0xffffffff, as ip does).
	Mark    uint32 `json:"fwmark,omitempty"`
	Mask    uint32 `json:"fwmask,omitempty"`
	HasMark bool   `json:"-"`
	// Table is the table an ActionLookup rule looks up.
	Table uint32 `json:"table,omitempty"`
	// Action is one of the Action* words; "" means lookup.
	Action string `json:"action"`
	Invert bool   `json:"invert,omitempty"`
}

// Filter selects routes in Routes.
type Filter struct {
	Family int    // 0 for IPv4 and IPv6
	Table  uint32 // 0 for every table (ip route show table all)
}

// Query asks the kernel how it would route one packet (RTM_GETROUTE).
type Query struct {
	To   netip.Addr
	From netip.Addr // optional source address
	IIF  string     // optional: as if the packet arrived on this device (needs From)
	OIF  string     // optional: force the output device
	Mark uint32     // optional fwmark
}

// Decision is the kernel's answer to a Query.
type Decision struct {
	To    netip.Addr `json:"to"`
	Type  string     `json:"type"` // unicast, local, blackhole, unreachable, prohibit, ...
	Via   netip.Addr `json:"via,omitzero"`
	Dev   string     `json:"dev,omitempty"`
	Src   netip.Addr `json:"src,omitzero"`
	From  netip.Addr `json:"from,omitzero"`
	IIF   string     `json:"iif,omitempty"`
	Table uint32     `json:"table"`
	Mark  uint32     `json:"mark,omitempty"`
	// Err is the kernel's refusal when it has no route or a rule/route
	// forbids it (e.g. "network is unreachable", "permission denied"):
	// a decision, not a failure of the query.
	Err string `json:"error,omitempty"`
}

// ErrNotImplemented marks the skeleton's stubs.
var ErrNotImplemented = errors.New("routectl: not implemented")

// Conn reads and changes the routing state of one network namespace. Its
// methods are safe for concurrent use. Close it when done.
type Conn struct {
	ns netns.NsHandle
}

// Open returns a Conn for the namespace ns (the caller may close ns
// afterwards).
func Open(ns netns.NsHandle) (*Conn, error) { return nil, ErrNotImplemented }

// Close releases the Conn; safe to call twice.
func (c *Conn) Close() error { return nil }

// AddRoute adds a route; it fails if the same route exists (NLM_F_EXCL).
func (c *Conn) AddRoute(ctx context.Context, r Route) error { return ErrNotImplemented }

// DelRoute deletes a route.
func (c *Conn) DelRoute(ctx context.Context, r Route) error { return ErrNotImplemented }

// Routes lists routes (every table when f.Table is 0), sorted by table,
// family, destination, metric.
func (c *Conn) Routes(ctx context.Context, f Filter) ([]Route, error) {
	return nil, ErrNotImplemented
}

// AddRule adds a rule; rules with equal priorities are legal (the kernel
// keeps insertion order).
func (c *Conn) AddRule(ctx context.Context, r Rule) error { return ErrNotImplemented }

// DelRule deletes a rule.
func (c *Conn) DelRule(ctx context.Context, r Rule) error { return ErrNotImplemented }

// Rules lists rules of family (0 for both) in priority order.
func (c *Conn) Rules(ctx context.Context, family int) ([]Rule, error) {
	return nil, ErrNotImplemented
}

// Get asks the kernel for its route decision for q (RTM_GETROUTE with
// RTM_F_LOOKUP_TABLE semantics so Table is reported).
func (c *Conn) Get(ctx context.Context, q Query) (*Decision, error) {
	return nil, ErrNotImplemented
}
