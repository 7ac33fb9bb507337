package labschema

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/netlabdev/netlab/topology"
)

// Value types: the $defs that are not objects. Their patterns are written for
// both RE2 (Go validators) and ECMA-262 (editors): no flags, no lookaround.
// Lengths in the schema count characters; netlab's limits count bytes, which
// is the same for the ASCII names labs use.
const (
	defLabName       = "LabName"
	defNodeName      = "NodeName"
	defIfName        = "InterfaceName"
	defEndpoint      = "Endpoint"
	defDuration      = "Duration"
	defScalar        = "Scalar"
	defSysctlKey     = "SysctlKey"
	defNodeSysctlKey = "NodeSysctlKey"
	defTableName     = "TableName"
	defTableID       = "TableID"
	defTable         = "Table"
	defFWMark        = "FWMark"
	defAddrPrefix    = "AddressWithPrefix"
	defAddress       = "Address"
	defPrefix        = "Prefix"
	defMAC           = "MAC"
	defPercent       = "Percent"
	defRate          = "Rate"
	defSize          = "Size"
	defICMPType      = "ICMPType"
	defNeighState    = "NeighborState"
	defStaticState   = "StaticNeighborState"
	defStates        = "States"
	defUint32        = "Uint32"
	defDestination   = "Destination"
	defRuleSelector  = "RuleSelector"
)

// Patterns of the value types (exported through the schema only).
const (
	durationRE = `^[+]?(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	hex2       = `[0-9A-Fa-f]{2}`
	hex4       = `[0-9A-Fa-f]{4}`
)

func ref(def string) *jsonschema.Schema { return &jsonschema.Schema{Ref: "#/$defs/" + def} }

func str(pattern string) *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: pattern}
}

func u64(n uint64) *uint64 { return &n }

func num(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

func anyOf(desc string, ss ...*jsonschema.Schema) *jsonschema.Schema {
	return &jsonschema.Schema{Description: desc, AnyOf: ss}
}

func not(vals ...any) *jsonschema.Schema { return &jsonschema.Schema{Enum: vals} }

func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// caseForms lists the words (and numbers) of a value set, each word in
// lower case followed by its upper-case form when anyCase: netlab reads these
// words in any case, and the schema names the two usual spellings.
func caseForms(vs []any, anyCase bool) []any {
	var out []any
	seen := map[any]bool{}
	for _, v := range vs {
		w, ok := v.(string)
		if !ok {
			out = append(out, v)
			continue
		}
		lw := strings.ToLower(w)
		if seen[lw] {
			continue
		}
		seen[lw] = true
		out = append(out, lw)
		if anyCase && strings.ToUpper(w) != lw {
			out = append(out, strings.ToUpper(w))
		}
	}
	return out
}

// icmpTypeNames are nft's names that topology.ICMPType knows, for icmp and
// icmpv6 together, sorted.
func icmpTypeNames() []string {
	seen := map[string]bool{}
	for _, proto := range []string{topology.ProtoICMP, topology.ProtoICMPv6} {
		for t := 0; t < 256; t++ {
			if name := topology.ICMPTypeName(proto, uint8(t)); name != strconv.Itoa(t) {
				seen[name] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// valueDefs are the definitions of the lab file's value types.
func valueDefs() map[string]*jsonschema.Schema {
	ifName := &jsonschema.Schema{
		Type:        "string",
		Description: "A Linux interface name: 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'; 'all' and 'default' are refused because they name sysctl sections. Dots inside are allowed (eth0.1).",
		MinLength:   u64(1), MaxLength: u64(topology.MaxIfNameLen),
		Pattern: `^[^/:\s]+$`,
		Not:     not(".", "..", "all", "default"),
	}
	sysctlKey := &jsonschema.Schema{
		Type:        "string",
		Description: "A sysctl key in dotted form under net. (net.ipv4.conf.all.rp_filter); an interface name with dots is written with '/' for its dots (net.ipv4.conf.eth0/1.rp_filter), as sysctl(8) does. Keys must resolve under /proc/sys/net/: '..', '*', whitespace and keys outside net. are refused.",
		Pattern:     `^net([.][^.\s*]+)+$`,
	}
	nodeSysctlKey := &jsonschema.Schema{
		Description: "A node sysctl key (see SysctlKey); net.ipv4.neigh.default.* and net.ipv6.neigh.default.* exist only in the root namespace and belong under host.sysctls.",
		AllOf:       []*jsonschema.Schema{ref(defSysctlKey), {Not: str(`^net[.]ipv[46][.]neigh[.]default[.]`)}},
	}
	uint32s := &jsonschema.Schema{Type: "integer", Description: "A whole number from 0 to 4294967295.", Minimum: num(0), Maximum: num(1<<32 - 1)}
	tableID := &jsonschema.Schema{Type: "integer", Description: "A routing table number: 1-4294967295, but not 253 (default), 254 (main) or 255 (local).",
		Minimum: num(1), Maximum: num(1<<32 - 1), Not: not(253, 254, 255)}
	mac6 := `^(` + hex2 + `(:` + hex2 + `){5}|` + hex2 + `(-` + hex2 + `){5}|` + hex4 + `([.]` + hex4 + `){2}|[0-9A-Fa-f]{12})$`
	return map[string]*jsonschema.Schema{
		defLabName: {Type: "string",
			Description: "A lab name: [a-z0-9][a-z0-9-]*, at most 32 bytes, not one of netlab's verbs (" + strings.Join(topology.Verbs, ", ") + ").",
			Pattern:     `^[a-z0-9][a-z0-9-]*$`, MaxLength: u64(topology.MaxNameLen), Not: not(anys(topology.Verbs)...)},
		defNodeName: {Type: "string",
			Description: "A node name: [a-z0-9_]+ (no '-': namespaces are named <lab>-<node>), at most 32 bytes.",
			Pattern:     `^[a-z0-9_]+$`, MaxLength: u64(topology.MaxNameLen)},
		defIfName: ifName,
		defEndpoint: {Type: "string",
			Description: "One end of a link: node:interface (h1:eth0). The node must be declared under nodes; the interface is created by the link.",
			Pattern:     `^[a-z0-9_]{1,32}:[^/:\s]{1,15}$`},
		defDuration: anyOf("A Go duration such as 300ms, 5s, 2m or 1h30m (units ns, us, ms, s, m, h); not negative; a bare 0 is allowed.",
			str(durationRE), &jsonschema.Schema{Const: 0}),
		defScalar: anyOf("Any YAML scalar (a string, number or boolean); netlab keeps its text as written.",
			&jsonschema.Schema{Type: "string"}, &jsonschema.Schema{Type: "number"}, &jsonschema.Schema{Type: "boolean"}),
		defSysctlKey:     sysctlKey,
		defNodeSysctlKey: nodeSysctlKey,
		defTableName: {Type: "string",
			Description: "A lab-local routing table name: letters, digits, '_', '.', '-', not starting with a digit; main, local and default are the kernel's.",
			Pattern:     `^[A-Za-z_][A-Za-z0-9_.-]*$`, Not: not("main", "local", "default")},
		defTableID: tableID,
		defTable: anyOf("A routing table: a number (1-4294967295), main, local, default, or a name from the node's tables.",
			&jsonschema.Schema{Type: "integer", Minimum: num(1), Maximum: num(1<<32 - 1)}, str(`^[A-Za-z0-9_.-]+$`)),
		defFWMark: anyOf("A firewall mark: N or N/MASK, decimal or 0x hex.",
			&jsonschema.Schema{Type: "integer", Minimum: num(0), Maximum: num(1<<32 - 1)},
			str(`^(0x[0-9a-fA-F]+|[0-9]+)(/(0x[0-9a-fA-F]+|[0-9]+))?$`)),
		defAddrPrefix: {Type: "string",
			Description: "An IPv4 or IPv6 address with its prefix length (CIDR form): 192.0.2.1/24, 2001:db8::1/64.",
			Pattern:     `^[0-9A-Fa-f:.]+/[0-9]{1,3}$`},
		defAddress: {Type: "string",
			Description: "An IPv4 or IPv6 address (192.0.2.1, 2001:db8::1, fe80::1).",
			Pattern:     `^[0-9A-Fa-f:.]+(%[^\s%]+)?$`},
		defPrefix: {Type: "string",
			Description: "An IPv4 or IPv6 prefix without host bits (192.0.2.0/24), or a bare address (a host prefix).",
			Pattern:     `^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$`},
		defDestination: {Type: "string",
			Description: "A route destination: a prefix without host bits (203.0.113.0/24), a bare address (a host route) or default (IPv4 unless the route names an IPv6 address; write ::/0 for an IPv6 default without a gateway).",
			Pattern:     `^(default|[0-9A-Fa-f:.]+(/[0-9]{1,3})?)$`},
		defRuleSelector: {Type: "string",
			Description: "A rule's source or destination: a prefix (192.0.2.0/25), a bare address, or all.",
			Pattern:     `^(all|[0-9A-Fa-f:.]+(/[0-9]{1,3})?)$`},
		defMAC: {Type: "string",
			Description: "A 6-byte Ethernet address: 02:00:00:00:00:01 (also 02-00-00-00-00-01, 0200.0000.0001 or 020000000001). Quote it in YAML.",
			Pattern:     mac6},
		defPercent: {Type: "string", Description: "A percentage such as 0%, 1% or 12.5%.", Pattern: `^[0-9]+([.][0-9]+)?%$`},
		defRate: {Type: "string",
			Description: "A tc rate: a number with a unit, bits per second (bit, kbit, mbit, gbit, tbit) or bytes per second (bps, kbps, mbps, gbps, tbps): 20mbit, 500kbit.",
			Pattern:     `^[0-9]+([.][0-9]+)?([kKmMgGtT]?([bB][iI][tT]|[bB][pP][sS]))$`},
		defSize: anyOf("A tc size in bytes: a number (1500) or with a unit (b; k, kb = 1024 bytes; m, mb = 1 MiB; kbit, mbit): 32kb.",
			&jsonschema.Schema{Type: "integer", Minimum: num(1), Maximum: num(1<<32 - 1)},
			str(`^[0-9]+([bB]|[kKmM][bB]?|[kKmM][bB][iI][tT])?$`)),
		defICMPType: anyOf("An ICMP or ICMPv6 type: nft's name (echo-request, nd-neighbor-solicit, ...) or a number 0-255.",
			&jsonschema.Schema{Type: "string", Enum: caseForms(anys(icmpTypeNames()), false)},
			&jsonschema.Schema{Type: "integer", Minimum: num(0), Maximum: num(255)}),
		defNeighState: {Type: "string", Description: "A neighbour state as the kernel names it (any case; upper case in netlab's output).",
			Enum: caseForms(anys(slices.Sorted(maps.Keys(topology.AllNeighStates))), true)},
		defStaticState: {Type: "string", Description: "A state a neighbour entry can be given (any case).",
			Enum: caseForms(anys(slices.Sorted(maps.Keys(topology.NeighStates))), true)},
		defStates: anyOf("One neighbour state, or a list of states (any of them matches).",
			ref(defNeighState), &jsonschema.Schema{Type: "array", Items: ref(defNeighState), MinItems: u64(1)}),
		defUint32: uint32s,
	}
}
