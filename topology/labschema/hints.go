package labschema

import (
	"github.com/netlabdev/netlab/topology"
)

// typeHint documents one object of the lab file (a topology struct, by its Go
// name) and the keys of its yaml tags. Every type and key the reflector
// finds must have a hint, and every hint a type and key (Generate fails
// otherwise), so a new key cannot reach the schema undocumented.
type typeHint struct {
	Doc  string
	Keys map[string]keyHint
	// OneOf: exactly one of these keys is given.
	OneOf []string
	// OneOfAllBut: exactly one of the object's keys other than these is given
	// (a scenario step's action).
	OneOfAllBut []string
}

// keyHint documents one key and narrows what its Go type says.
type keyHint struct {
	Doc string
	// Default is the value netlab uses when the key is left out.
	Default any
	// Enum lists the accepted values; AnyCase adds each word's upper-case
	// form (netlab reads these words in any case).
	Enum    []any
	AnyCase bool
	// Def replaces the key's schema by a value type ($defs); Items does so
	// for a list's items, KeyDef for a map's keys, ValueDef for its values.
	Def, Items, KeyDef, ValueDef string
	// NullValues lets a map's values be empty (h4: with nothing under it).
	NullValues bool
	// Min and Max bound a number; MinItems, MaxItems a list; MinKeys,
	// MaxKeys a map.
	Min, Max                             any
	MinItems, MaxItems, MinKeys, MaxKeys int
}

// Scenario defaults (scenario.Default*; a test compares them). They live in
// package scenario, which needs the kernel, so they are repeated here.
const (
	defaultPingCount    = 1
	defaultPingInterval = "200ms"
	defaultPingTimeout  = "1s"
	defaultArpTimeout   = "1s"
	defaultWaitTimeout  = "5s"
)

// hints is the table, by Go type name and yaml key.
func hints() map[string]typeHint {
	upDown := []any{"up", "down"}
	successful := []any{"success", "failure"}
	return map[string]typeHint{
		"Lab": {
			Doc: "A netlab lab file: nodes (network namespaces), veth links, bridges, addresses, sysctls, routes, rules, static neighbours, firewall rules, and an optional scenario. Unknown keys are errors.",
			Keys: map[string]keyHint{
				"version":     {Doc: "The file-format version this lab needs (optional).", Min: 0, Max: topology.FormatVersion},
				"name":        {Doc: "The lab's name. Each node's namespace is named <lab>-<node>; down, status, exec and the other commands of a running lab take this name.", Def: defLabName},
				"description": {Doc: "Free text."},
				"host":        {Doc: "Host-global knobs: they change the root namespace, so every lab and process on the machine, while the lab runs."},
				"nodes":       {Doc: "The nodes by name; each is a network namespace named <lab>-<node>.", KeyDef: defNodeName, NullValues: true, MinKeys: 1, MaxKeys: topology.MaxNodes},
				"links":       {Doc: "The links; each is one veth pair, its ends created directly in their nodes' namespaces.", MaxItems: topology.MaxLinks},
				"scenario":    {Doc: "Steps run in order by `netlab run` (`netlab up` only validates them). A step that fails stops the scenario."},
			},
		},
		"Host": {
			Doc: "Host-global knobs, applied in the root namespace. netlab records each knob's old value before writing it; the last lab that needs a knob restores it at down; two running labs asking for different values of one knob: the second is refused.",
			Keys: map[string]keyHint{
				"sysctls": {Doc: "Root-namespace sysctls. Allowed: net.ipv4.neigh.default.* and net.ipv6.neigh.default.* (neighbour GC thresholds and interval, which exist only in the root namespace; gc_thresh1: 0 makes GC run); other keys only with --allow-host-sysctl.", KeyDef: defSysctlKey},
			},
		},
		"Node": {
			Doc: "One node: a network namespace named <lab>-<node>.",
			Keys: map[string]keyHint{
				"kind": {Doc: "host: a plain namespace; router: forwarding on (net.ipv4.ip_forward, net.ipv4.conf.all.forwarding and net.ipv6.conf.all.forwarding set to 1 unless the node sets them); bridge: a switch, every link end of this node joins one bridge device.",
					Default: topology.NodeKindHost, Enum: []any{topology.NodeKindHost, topology.NodeKindRouter, topology.NodeKindBridge}},
				"bridge":     {Doc: "The switch's bridge device; only for kind: bridge (for a bridge inside a host, declare an interface with kind: bridge)."},
				"sysctls":    {Doc: "net.* sysctls inside the node, per-interface keys included (net.ipv4.neigh.eth0.base_reachable_time_ms). conf.all/default keys are set before links exist, per-interface keys once the interface is in its namespace, before it goes up. An explicit sysctl beats a kind's default.", KeyDef: defNodeSysctlKey},
				"interfaces": {Doc: "Properties of the node's interfaces by name. Link ends declare interfaces; this adds their properties. Besides link ends it may declare lo (addresses only) and bridges (kind: bridge).", KeyDef: defIfName, NullValues: true},
				"routes":     {Doc: "Routes in any table, added once every address is in place and every interface is up."},
				"tables":     {Doc: "Lab-local names of routing tables (isp1: 101) for routes and rules; nothing is written to /etc/iproute2/rt_tables.", KeyDef: defTableName, ValueDef: defTableID},
				"rules":      {Doc: "Policy-routing rules, added after every route."},
				"neighbors":  {Doc: "Static neighbour (ARP/NDP) entries, added once every interface is up."},
				"firewall":   {Doc: "nftables rules in the node's namespace, in a netlab-owned table (inet family; on kind: bridge nodes the forward chain filters bridged frames in the bridge family). The first match decides. Dropping icmpv6 also drops neighbour discovery."},
			},
		},
		"BridgeOpts": {
			Doc: "The bridge device of a kind: bridge node.",
			Keys: map[string]keyHint{
				"name":        {Doc: "The bridge device's name.", Def: defIfName, Default: topology.DefaultBridge},
				"stp":         {Doc: "Spanning tree protocol (with STP a port forwards only after listening and learning, 2 x forward_delay = 30 s).", Default: false},
				"ageing_time": {Doc: "How long the bridge remembers a MAC address after the last frame from it.", Default: topology.TCTime(topology.DefaultAgeing)},
			},
		},
		"Interface": {
			Doc: "Properties of an interface: a link end, lo, or a bridge declared here (kind: bridge).",
			Keys: map[string]keyHint{
				"kind":      {Doc: "bridge declares a bridge device in the node; link ends are veth implicitly (veth may be written), and lo is lo.", Enum: []any{topology.IfBridge, topology.IfVeth, topology.IfLo}},
				"addresses": {Doc: "IPv4 and IPv6 addresses in CIDR form. The same address twice on one L2 segment is an error. IPv6 addresses are added with nodad (usable at once) unless dad: true.", Items: defAddrPrefix},
				"mac":       {Doc: "The interface's MAC address: unicast (first byte even), unique on its L2 segment; lo has none.", Def: defMAC},
				"mtu":       {Doc: "The MTU; for a link end it wins over the link's mtu.", Min: 68, Max: 65535},
				"state":     {Doc: "down leaves the interface administratively down (a veth's peer then has no carrier); lo stays up.", Default: "up", Enum: upDown, AnyCase: true},
				"ports":     {Doc: "The bridge's ports (kind: bridge only): link ends of this node.", Items: defIfName},
				"stp":       {Doc: "Spanning tree protocol on the bridge (kind: bridge only).", Default: false},
				"ageing_time": {Doc: "How long the bridge remembers a MAC address (kind: bridge only).",
					Default: topology.TCTime(topology.DefaultAgeing)},
				"dad": {Doc: "Keep the kernel's IPv6 duplicate address detection (addresses stay tentative until it ends); by default IPv6 addresses are added with nodad and accept_dad=0.", Default: false},
			},
		},
		"Link": {
			Doc: "One veth pair. Link keys: endpoints, mtu, and shape (tc tbf) or impair (tc netem), not both.",
			Keys: map[string]keyHint{
				"endpoints": {Doc: "The pair's two ends, node:interface each; the end of a kind: bridge node becomes a port of its bridge.", Items: defEndpoint, MinItems: 2, MaxItems: 2},
				"mtu":       {Doc: "The MTU of both ends; an interface's own mtu wins for its end.", Min: 68, Max: 65535},
				"shape":     {Doc: "A token-bucket filter (tc tbf) on both ends: each end shapes what it sends."},
				"impair":    {Doc: "A netem impairment (tc netem) on both ends. A kernel without netem is detected before anything is created (exit 3)."},
			},
		},
		"Shape": {
			Doc: "tc tbf on both ends of a link.",
			Keys: map[string]keyHint{
				"rate":    {Doc: "The rate each end may send at.", Def: defRate},
				"burst":   {Doc: "The bucket: how much may be sent at once. Default: 10 ms worth of the rate, at least two full frames. Less than one full frame (mtu + 14 bytes) is refused.", Def: defSize},
				"latency": {Doc: "How long a packet may wait: the queue holds rate x latency + burst bytes; beyond it, packets are dropped.", Default: topology.TCTime(topology.DefaultShapeLatency)},
			},
		},
		"Impair": {
			Doc: "tc netem on both ends of a link.",
			Keys: map[string]keyHint{
				"delay":  {Doc: "Added delay (delay + jitter at most 1m)."},
				"jitter": {Doc: "Variation of the delay; needs delay."},
				"loss":   {Doc: "Random loss.", Def: defPercent},
			},
		},
		"Route": {
			Doc: "One route. The family is that of the first address the route names (to, via, src, a next hop); IPv4 and IPv6 cannot mix.",
			Keys: map[string]keyHint{
				"to":       {Doc: "The destination.", Def: defDestination},
				"via":      {Doc: "The gateway: on a declared subnet of the node (of dev's, if given) unless onlink; an IPv6 link-local gateway needs dev.", Def: defAddress},
				"dev":      {Doc: "The output interface; it must not be declared state: down.", Def: defIfName},
				"src":      {Doc: "The preferred source address: one of the node's addresses.", Def: defAddress},
				"metric":   {Doc: "The route's metric (IPv6 reports 0 as 1024)."},
				"table":    {Doc: "The table (a type: local route without a table goes to local).", Def: defTable, Default: "main"},
				"type":     {Doc: "blackhole, unreachable, prohibit and throw routes take no via, dev or nexthops.", Default: "unicast", Enum: []any{"unicast", "local", "blackhole", "unreachable", "prohibit", "throw"}, AnyCase: true},
				"scope":    {Doc: "The route's scope (the kernel's choice when left out).", Enum: []any{"global", "universe", "link", "host", "site", "nowhere"}, AnyCase: true},
				"onlink":   {Doc: "The gateway is reachable on dev although no declared subnet holds it (needs dev); applies to every next hop."},
				"nexthops": {Doc: "The paths of a multipath route, instead of via/dev."},
			},
		},
		"Nexthop": {
			Doc: "One path of a multipath route; it needs via or dev.",
			Keys: map[string]keyHint{
				"via":    {Doc: "The gateway (as a route's via).", Def: defAddress},
				"dev":    {Doc: "The output interface.", Def: defIfName},
				"weight": {Doc: "The path's share of the traffic.", Default: 1, Min: 1, Max: 256},
				"onlink": {Doc: "The gateway is reachable on dev although no declared subnet holds it."},
			},
		},
		"Rule": {
			Doc: "One policy-routing rule. Its family comes from from/to, else family, else IPv4 (as with ip rule).",
			Keys: map[string]keyHint{
				"priority": {Doc: "The rule's priority (lower first; equal priorities keep their order). Left out, the kernel picks."},
				"from":     {Doc: "Source prefix or address.", Def: defRuleSelector},
				"to":       {Doc: "Destination prefix or address.", Def: defRuleSelector},
				"iif":      {Doc: "Input interface.", Def: defIfName},
				"oif":      {Doc: "Output interface.", Def: defIfName},
				"fwmark":   {Doc: "Firewall mark, N or N/MASK.", Def: defFWMark},
				"table":    {Doc: "The table a lookup rule looks up (required for lookup).", Def: defTable},
				"action":   {Doc: "What the rule does: lookup (table is an alias) the table, or refuse the packet.", Default: "lookup", Enum: []any{"lookup", "table", "blackhole", "unreachable", "prohibit"}, AnyCase: true},
				"invert":   {Doc: "Match what the selectors do not (ip rule add not ...).", Default: false},
				"family":   {Doc: "The family when from/to name no address (a fwmark rule for IPv6 needs ipv6).", Enum: []any{"ipv4", "ipv6", "inet", "inet6", 4, 6}, AnyCase: true},
			},
		},
		"Neighbor": {
			Doc: "A static neighbour entry, added exclusively (like ip neigh add) once every interface is up; one per address, device and proxy flag.",
			Keys: map[string]keyHint{
				"to":     {Doc: "The neighbour's IP address (no zone, not IPv4-mapped or unspecified).", Def: defAddress},
				"lladdr": {Doc: "Its link-layer address (6 bytes); required unless proxy: true, which takes none.", Def: defMAC},
				"dev":    {Doc: "The interface (not lo).", Def: defIfName},
				"state":  {Doc: "The entry's state (a proxy entry takes none).", Def: defStaticState, Default: "permanent"},
				"proxy":  {Doc: "A proxy ARP/NDP entry: the node answers for to with its own MAC.", Default: false},
				"router": {Doc: "Set the IPv6 router flag.", Default: false},
			},
		},
		"FirewallRule": {
			Doc: "One nftables rule. Every key but chain and action is a match; a rule without matches matches every IPv4 and IPv6 packet of its chain (never ARP: it is not IP).",
			Keys: map[string]keyHint{
				"chain":     {Doc: "input: packets for this node; output: packets it sends; forward: packets it routes (or bridges, on a kind: bridge node).", Enum: []any{"input", "output", "forward"}},
				"action":    {Doc: "reject answers TCP with a reset and other packets with an ICMP error.", Enum: []any{"accept", "drop", "reject"}},
				"family":    {Doc: "Limit the rule to one IP version (default: both, or the one that proto icmp/icmpv6, src or dst implies).", Enum: []any{"ipv4", "ipv6", "ip", "ip6", 4, 6}, AnyCase: true},
				"proto":     {Doc: "The protocol.", Enum: []any{topology.ProtoICMP, topology.ProtoICMPv6, topology.ProtoTCP, topology.ProtoUDP}},
				"icmp_type": {Doc: "The ICMP(v6) type; needs proto icmp or icmpv6.", Def: defICMPType},
				"src":       {Doc: "Source prefix or address.", Def: defPrefix},
				"dst":       {Doc: "Destination prefix or address.", Def: defPrefix},
				"iif":       {Doc: "Input interface (never matches in chain output).", Def: defIfName},
				"oif":       {Doc: "Output interface (never matches in chain input).", Def: defIfName},
				"sport":     {Doc: "Source port; needs proto tcp or udp.", Min: 1, Max: 65535},
				"dport":     {Doc: "Destination port; needs proto tcp or udp.", Min: 1, Max: 65535},
			},
		},
		"Step": {
			Doc:         "One scenario step: exactly one action key, optionally with name.",
			OneOfAllBut: []string{"name"},
			Keys: map[string]keyHint{
				"name":     {Doc: "The step's name in reports and JUnit."},
				"ping":     {Doc: "ICMP echo requests from a node."},
				"arping":   {Doc: "ARP requests, gratuitous ARP or unsolicited replies (IPv6: NS / unsolicited NA) from a node."},
				"tcp":      {Doc: "A TCP flow from one node to the node that owns to."},
				"expect":   {Doc: "A condition checked once, now."},
				"wait":     {Doc: "A condition polled until it holds or timeout passes."},
				"sysctl":   {Doc: "Write a sysctl in a node (and read it back)."},
				"neigh":    {Doc: "Change a node's neighbour table."},
				"exec":     {Doc: "Run an argv (never a shell string) in a node; its output goes into the report."},
				"sleep":    {Doc: "Wait this long."},
				"link":     {Doc: "Set an interface up or down. down flushes the kernel's neighbours, routes and IPv6 addresses on it; up adds the lab's declared addresses of that device again."},
				"firewall": {Doc: "Add rules to, or flush, a node's netlab firewall table."},
				"capture":  {Doc: "Record the packets of one interface as pcap, from this step until its count or duration or the end of the run."},
			},
		},
		"PingStep": {
			Doc: "ICMP echo requests; the step lasts about count x interval + timeout.",
			Keys: map[string]keyHint{
				"from":     {Doc: "The node that pings.", Def: defNodeName},
				"to":       {Doc: "The address pinged.", Def: defAddress},
				"count":    {Doc: "Requests to send.", Default: defaultPingCount, Min: 1},
				"interval": {Doc: "Time between requests.", Default: defaultPingInterval},
				"timeout":  {Doc: "The wait for the last reply.", Default: defaultPingTimeout},
				"dev":      {Doc: "Send from this interface (SO_BINDTODEVICE).", Def: defIfName},
				"src":      {Doc: "Source address.", Def: defAddress},
				"size":     {Doc: "Payload bytes (0: none; default 56).", Min: 0, Max: 65527},
				"ttl":      {Doc: "TTL or hop limit.", Min: 1, Max: 255},
				"confirm":  {Doc: "Send with MSG_CONFIRM, which confirms the neighbour entry (keeps it REACHABLE).", Default: false},
				"expect":   {Doc: "success: at least one reply; failure: none.", Default: "success", Enum: successful},
				"loss":     {Doc: "The exact packet loss expected (0%, 100%).", Def: defPercent},
			},
		},
		"ArpingStep": {
			Doc: "ARP (IPv6: neighbour discovery) from a node. A request must be answered; announcements are only sent.",
			Keys: map[string]keyHint{
				"from":    {Doc: "The node that sends.", Def: defNodeName},
				"dev":     {Doc: "The interface (default: the one whose declared prefix holds to).", Def: defIfName},
				"to":      {Doc: "The address asked for, or announced (gratuitous: need not be the node's, for takeover experiments).", Def: defAddress},
				"src":     {Doc: "Sender address.", Def: defAddress},
				"mode":    {Doc: "request, gratuitous (a gratuitous ARP request / unsolicited NA) or reply (an unsolicited ARP reply).", Default: "request", Enum: []any{"request", "gratuitous", "reply"}},
				"count":   {Doc: "Packets to send.", Default: 1, Min: 1},
				"timeout": {Doc: "The wait for answers.", Default: defaultArpTimeout},
				"expect":  {Doc: "success: answered; failure: not answered (default: success for a request, nothing for announcements).", Enum: successful},
			},
		},
		"TCPStep": {
			Doc:   "A TCP flow: a server in the node that owns to, a client in from; exactly one of bytes or duration.",
			OneOf: []string{"bytes", "duration"},
			Keys: map[string]keyHint{
				"from":     {Doc: "The client node.", Def: defNodeName},
				"to":       {Doc: "The server's address.", Def: defAddress},
				"port":     {Doc: "The server's port.", Min: 1, Max: 65535},
				"bytes":    {Doc: "Send this many bytes.", Min: 1},
				"duration": {Doc: "Send for this long."},
			},
		},
		"Condition": {
			Doc:   "What expect checks once and wait polls for: exactly one of neighbor (+ state, lladdr or absent), route (+ via, dev or type), sysctl (+ value) or fdb (+ dev, absent).",
			OneOf: []string{"neighbor", "route", "sysctl", "fdb"},
			Keys: map[string]keyHint{
				"node":     {Doc: "The node looked at.", Def: defNodeName},
				"neighbor": {Doc: "A neighbour entry, by address.", Def: defAddress},
				"state":    {Doc: "The entry's state, or a list of states (any of them)."},
				"lladdr":   {Doc: "The entry's link-layer address.", Def: defMAC},
				"absent":   {Doc: "The neighbour entry (or fdb entry) does not exist.", Default: false},
				"route":    {Doc: "A route decision: the kernel's answer for one packet (like ip route get)."},
				"via":      {Doc: "The decision's gateway.", Def: defAddress},
				"dev":      {Doc: "The decision's output interface, or the bridge port of an fdb entry.", Def: defIfName},
				"type":     {Doc: "The decision's type as the kernel names it (unicast, local, blackhole, unreachable, prohibit, throw, martian)."},
				"sysctl":   {Doc: "A sysctl of the node.", Def: defNodeSysctlKey},
				"value":    {Doc: "The sysctl's value (compared word by word)."},
				"fdb":      {Doc: "A MAC address in a bridge's forwarding database.", Def: defMAC},
				"timeout":  {Doc: "How long wait polls (expect checks once).", Default: defaultWaitTimeout},
			},
		},
		"RouteQuery": {
			Doc: "One packet for a route decision.",
			Keys: map[string]keyHint{
				"to":   {Doc: "Destination address.", Def: defAddress},
				"from": {Doc: "Source address (the one the policy rules see).", Def: defAddress},
				"iif":  {Doc: "Ask the input path, as if the packet arrived on this interface (forwarding, rp_filter and martian checks apply).", Def: defIfName},
				"mark": {Doc: "Firewall mark."},
			},
		},
		"SysctlStep": {
			Doc: "Write one sysctl in a node; a value the kernel refuses fails the step.",
			Keys: map[string]keyHint{
				"node":  {Doc: "The node.", Def: defNodeName},
				"key":   {Doc: "The sysctl.", Def: defNodeSysctlKey},
				"value": {Doc: "The value."},
			},
		},
		"NeighStep": {
			Doc: "A change to a node's neighbour table, like ip neigh.",
			Keys: map[string]keyHint{
				"node":   {Doc: "The node.", Def: defNodeName},
				"action": {Doc: "add, set, del and use need to and dev; use acts as if a packet was sent to the neighbour (STALE -> DELAY).", Enum: []any{"add", "set", "del", "flush", "use"}},
				"to":     {Doc: "The neighbour's address.", Def: defAddress},
				"lladdr": {Doc: "Its link-layer address.", Def: defMAC},
				"dev":    {Doc: "The interface (flush: only its entries).", Def: defIfName},
				"state":  {Doc: "The entry's state (add and set).", Def: defStaticState, Default: "permanent"},
				"proxy":  {Doc: "A proxy entry.", Default: false},
			},
		},
		"ExecStep": {
			Doc: "A command run in a node.",
			Keys: map[string]keyHint{
				"node":        {Doc: "The node.", Def: defNodeName},
				"cmd":         {Doc: "The argv: a list of words, never a shell string.", Items: defScalar, MinItems: 1},
				"expect_exit": {Doc: "The exit status that passes.", Default: 0, Min: 0, Max: 255},
			},
		},
		"LinkStep": {
			Doc: "Set one interface up or down.",
			Keys: map[string]keyHint{
				"node":  {Doc: "The node.", Def: defNodeName},
				"dev":   {Doc: "The interface.", Def: defIfName},
				"state": {Doc: "The state to set.", Enum: upDown, AnyCase: true},
			},
		},
		"FirewallStep": {
			Doc: "Add rules to, or flush, a node's netlab firewall table: give either add or flush: true.",
			Keys: map[string]keyHint{
				"node":  {Doc: "The node.", Def: defNodeName},
				"add":   {Doc: "Rules to add."},
				"flush": {Doc: "Remove every rule.", Default: false},
			},
		},
		"CaptureStep": {
			Doc: "A packet capture of one interface, both directions, as pcap.",
			Keys: map[string]keyHint{
				"node":     {Doc: "The node.", Def: defNodeName},
				"dev":      {Doc: "The interface.", Def: defIfName},
				"file":     {Doc: "The pcap file, in the run's output directory (default capture-<step>-<node>-<dev>.pcap)."},
				"count":    {Doc: "Stop after this many packets (0: no limit).", Min: 0},
				"duration": {Doc: "Stop after this long (default: at the end of the run)."},
			},
		},
	}
}
