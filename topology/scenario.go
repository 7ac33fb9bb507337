package topology

// Step is one scenario step: exactly one action key, optionally a name.
// Scenarios are run by `netlab run`; `netlab up` only validates them.
type Step struct {
	Name     string        `yaml:"name,omitempty" json:"name,omitempty"`
	Ping     *PingStep     `yaml:"ping,omitempty" json:"ping,omitempty"`
	Arping   *ArpingStep   `yaml:"arping,omitempty" json:"arping,omitempty"`
	TCP      *TCPStep      `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	Expect   *Condition    `yaml:"expect,omitempty" json:"expect,omitempty"`
	Wait     *Condition    `yaml:"wait,omitempty" json:"wait,omitempty"`
	Sysctl   *SysctlStep   `yaml:"sysctl,omitempty" json:"sysctl,omitempty"`
	Neigh    *NeighStep    `yaml:"neigh,omitempty" json:"neigh,omitempty"`
	Exec     *ExecStep     `yaml:"exec,omitempty" json:"exec,omitempty"`
	Sleep    *Duration     `yaml:"sleep,omitempty" json:"sleep,omitempty"`
	Link     *LinkStep     `yaml:"link,omitempty" json:"link,omitempty"`
	Firewall *FirewallStep `yaml:"firewall,omitempty" json:"firewall,omitempty"`
	Capture  *CaptureStep  `yaml:"capture,omitempty" json:"capture,omitempty"`
}

// PingStep sends ICMP echo requests from a node.
type PingStep struct {
	From     string    `yaml:"from" json:"from"`
	To       string    `yaml:"to" json:"to"`
	Count    *int      `yaml:"count,omitempty" json:"count,omitempty"`
	Interval *Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout  *Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Dev      string    `yaml:"dev,omitempty" json:"dev,omitempty"`
	Src      string    `yaml:"src,omitempty" json:"src,omitempty"`
	Size     *int      `yaml:"size,omitempty" json:"size,omitempty"`
	TTL      *int      `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	Confirm  bool      `yaml:"confirm,omitempty" json:"confirm,omitempty"`
	Expect   string    `yaml:"expect,omitempty" json:"expect,omitempty"`
	Loss     string    `yaml:"loss,omitempty" json:"loss,omitempty"`
}

// ArpingStep sends ARP requests, gratuitous ARP or unsolicited replies.
type ArpingStep struct {
	From    string    `yaml:"from" json:"from"`
	Dev     string    `yaml:"dev,omitempty" json:"dev,omitempty"`
	To      string    `yaml:"to" json:"to"`
	Src     string    `yaml:"src,omitempty" json:"src,omitempty"`
	Mode    string    `yaml:"mode,omitempty" json:"mode,omitempty"`
	Count   *int      `yaml:"count,omitempty" json:"count,omitempty"`
	Timeout *Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Expect  string    `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// TCPStep runs a TCP flow between two nodes.
type TCPStep struct {
	From     string    `yaml:"from" json:"from"`
	To       string    `yaml:"to" json:"to"`
	Port     int       `yaml:"port" json:"port"`
	Bytes    *int64    `yaml:"bytes,omitempty" json:"bytes,omitempty"`
	Duration *Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
}

// Condition is what expect checks once and wait polls for.
type Condition struct {
	Node     string      `yaml:"node" json:"node"`
	Neighbor string      `yaml:"neighbor,omitempty" json:"neighbor,omitempty"`
	State    States      `yaml:"state,omitempty" json:"state,omitempty"`
	LLAddr   string      `yaml:"lladdr,omitempty" json:"lladdr,omitempty"`
	Absent   bool        `yaml:"absent,omitempty" json:"absent,omitempty"`
	Route    *RouteQuery `yaml:"route,omitempty" json:"route,omitempty"`
	Via      string      `yaml:"via,omitempty" json:"via,omitempty"`
	Dev      string      `yaml:"dev,omitempty" json:"dev,omitempty"`
	Type     string      `yaml:"type,omitempty" json:"type,omitempty"`
	Sysctl   string      `yaml:"sysctl,omitempty" json:"sysctl,omitempty"`
	Value    *Value      `yaml:"value,omitempty" json:"value,omitempty"`
	FDB      string      `yaml:"fdb,omitempty" json:"fdb,omitempty"`
	Timeout  *Duration   `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// RouteQuery is a route lookup (like `ip route get`).
type RouteQuery struct {
	To   string  `yaml:"to" json:"to"`
	From string  `yaml:"from,omitempty" json:"from,omitempty"`
	IIF  string  `yaml:"iif,omitempty" json:"iif,omitempty"`
	Mark *uint32 `yaml:"mark,omitempty" json:"mark,omitempty"`
}

// SysctlStep writes a sysctl in a node.
type SysctlStep struct {
	Node  string `yaml:"node" json:"node"`
	Key   string `yaml:"key" json:"key"`
	Value Value  `yaml:"value" json:"value"`
}

// NeighStep acts on a node's neighbour table.
type NeighStep struct {
	Node   string `yaml:"node" json:"node"`
	Action string `yaml:"action" json:"action"`
	To     string `yaml:"to,omitempty" json:"to,omitempty"`
	LLAddr string `yaml:"lladdr,omitempty" json:"lladdr,omitempty"`
	Dev    string `yaml:"dev,omitempty" json:"dev,omitempty"`
	State  string `yaml:"state,omitempty" json:"state,omitempty"`
	Proxy  bool   `yaml:"proxy,omitempty" json:"proxy,omitempty"`
}

// ExecStep runs an argv (never a shell string) inside a node.
type ExecStep struct {
	Node       string   `yaml:"node" json:"node"`
	Cmd        []string `yaml:"cmd" json:"cmd"`
	ExpectExit *int     `yaml:"expect_exit,omitempty" json:"expect_exit,omitempty"`
}

// LinkStep sets an interface up or down.
type LinkStep struct {
	Node  string `yaml:"node" json:"node"`
	Dev   string `yaml:"dev" json:"dev"`
	State string `yaml:"state" json:"state"`
}

// FirewallStep adds rules to, or flushes, a node's netlab table.
type FirewallStep struct {
	Node  string          `yaml:"node" json:"node"`
	Add   []*FirewallRule `yaml:"add,omitempty" json:"add,omitempty"`
	Flush bool            `yaml:"flush,omitempty" json:"flush,omitempty"`
}

// CaptureStep records packets on a node's interface into a pcap file.
type CaptureStep struct {
	Node     string    `yaml:"node" json:"node"`
	Dev      string    `yaml:"dev" json:"dev"`
	File     string    `yaml:"file,omitempty" json:"file,omitempty"`
	Count    *int      `yaml:"count,omitempty" json:"count,omitempty"`
	Duration *Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
}
