package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

func u8(v uint8) *uint8 { return &v }

// debug prints expressions in the notation of `nft --debug=netlink` (the
// register dump libnftnl prints), so the cases below read like nft's own
// output for the same rule, which is where their expectations come from
// (nftables 1.0.6, `nft --debug=netlink add rule inet t input ...`; nft
// puts an iifname before the family match, netlab after it).
func debug(es []expr.Any) string {
	var b strings.Builder
	hex := func(d []byte) string {
		// libnftnl prints the register as 32-bit little-endian words.
		var ws []string
		for i := 0; i < len(d); i += 4 {
			var w uint32
			for j := 3; j >= 0; j-- {
				w <<= 8
				if i+j < len(d) {
					w |= uint32(d[i+j])
				}
			}
			ws = append(ws, fmt.Sprintf("0x%08x", w))
		}
		return strings.Join(ws, " ")
	}
	metaName := map[expr.MetaKey]string{expr.MetaKeyNFPROTO: "nfproto", expr.MetaKeyL4PROTO: "l4proto",
		expr.MetaKeyIIFNAME: "iifname", expr.MetaKeyOIFNAME: "oifname", expr.MetaKeyPROTOCOL: "protocol"}
	base := map[expr.PayloadBase]string{expr.PayloadBaseNetworkHeader: "network", expr.PayloadBaseTransportHeader: "transport"}
	for _, e := range es {
		switch e := e.(type) {
		case *expr.Meta:
			fmt.Fprintf(&b, "[ meta load %s => reg %d ]\n", metaName[e.Key], e.Register)
		case *expr.Cmp:
			fmt.Fprintf(&b, "[ cmp eq reg %d %s ]\n", e.Register, hex(e.Data))
		case *expr.Payload:
			fmt.Fprintf(&b, "[ payload load %db @ %s header + %d => reg %d ]\n", e.Len, base[e.Base], e.Offset, e.DestRegister)
		case *expr.Bitwise:
			fmt.Fprintf(&b, "[ bitwise reg %d = ( reg %d & %s ) ^ %s ]\n", e.DestRegister, e.SourceRegister, hex(e.Mask), hex(e.Xor))
		case *expr.Counter:
			b.WriteString("[ counter pkts 0 bytes 0 ]\n")
		case *expr.Verdict:
			v := map[expr.VerdictKind]string{expr.VerdictAccept: "accept", expr.VerdictDrop: "drop"}[e.Kind]
			fmt.Fprintf(&b, "[ immediate reg 0 %s ]\n", v)
		case *expr.Reject:
			fmt.Fprintf(&b, "[ reject type %d code %d ]\n", e.Type, e.Code)
		default:
			fmt.Fprintf(&b, "[ %T ]\n", e)
		}
	}
	return b.String()
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name  string
		table Table
		rule  Rule
		stmt  string
		nft   string // nft --debug=netlink for the equivalent rule
	}{
		{
			name: "tcp port", table: Inet,
			rule: Rule{Chain: Input, Action: Drop, Proto: TCP, Dport: 9},
			stmt: "add rule inet netlab input meta l4proto tcp tcp dport 9 counter drop",
			nft: `[ meta load l4proto => reg 1 ]
[ cmp eq reg 1 0x00000006 ]
[ payload load 2b @ transport header + 2 => reg 1 ]
[ cmp eq reg 1 0x00000900 ]
[ counter pkts 0 bytes 0 ]
[ immediate reg 0 drop ]
`,
		},
		{
			name: "all IPv4", table: Inet,
			rule: Rule{Chain: Input, Action: Drop, Family: IPv4},
			stmt: "add rule inet netlab input meta nfproto ipv4 counter drop",
			nft: `[ meta load nfproto => reg 1 ]
[ cmp eq reg 1 0x00000002 ]
[ counter pkts 0 bytes 0 ]
[ immediate reg 0 drop ]
`,
		},
		{
			name: "icmp echo request: the family comes from the protocol", table: Inet,
			rule: Rule{Chain: Input, Action: Drop, Proto: ICMP, ICMPType: u8(8)},
			stmt: "add rule inet netlab input meta nfproto ipv4 meta l4proto icmp icmp type echo-request counter drop",
			nft: `[ meta load nfproto => reg 1 ]
[ cmp eq reg 1 0x00000002 ]
[ meta load l4proto => reg 1 ]
[ cmp eq reg 1 0x00000001 ]
[ payload load 1b @ transport header + 0 => reg 1 ]
[ cmp eq reg 1 0x00000008 ]
[ counter pkts 0 bytes 0 ]
[ immediate reg 0 drop ]
`,
		},
		{
			name: "a byte-aligned source prefix and tcp reset", table: Inet,
			rule: Rule{Chain: Input, Action: Reject, Proto: TCP, Src: netip.MustParsePrefix("192.0.2.0/24"), Dport: 9},
			stmt: "add rule inet netlab input meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto tcp tcp dport 9 counter reject with tcp reset",
			nft: `[ meta load nfproto => reg 1 ]
[ cmp eq reg 1 0x00000002 ]
[ payload load 3b @ network header + 12 => reg 1 ]
[ cmp eq reg 1 0x000200c0 ]
[ meta load l4proto => reg 1 ]
[ cmp eq reg 1 0x00000006 ]
[ payload load 2b @ transport header + 2 => reg 1 ]
[ cmp eq reg 1 0x00000900 ]
[ counter pkts 0 bytes 0 ]
[ reject type 1 code 0 ]
`,
		},
		{
			name: "an IPv6 host and udp reject", table: Inet,
			rule: Rule{Chain: Input, Action: Reject, Proto: UDP, Dst: netip.MustParsePrefix("2001:db8::1/128"), Sport: 53},
			stmt: "add rule inet netlab input meta nfproto ipv6 ip6 daddr 2001:db8::1 meta l4proto udp udp sport 53 counter reject with icmpx port-unreachable",
			nft: `[ meta load nfproto => reg 1 ]
[ cmp eq reg 1 0x0000000a ]
[ payload load 16b @ network header + 24 => reg 1 ]
[ cmp eq reg 1 0xb80d0120 0x00000000 0x00000000 0x01000000 ]
[ meta load l4proto => reg 1 ]
[ cmp eq reg 1 0x00000011 ]
[ payload load 2b @ transport header + 0 => reg 1 ]
[ cmp eq reg 1 0x00003500 ]
[ counter pkts 0 bytes 0 ]
[ reject type 2 code 1 ]
`,
		},
		{
			name: "an interface and an icmpv6 type", table: Inet,
			rule: Rule{Chain: Input, Action: Accept, Proto: ICMPv6, ICMPType: u8(135), IIF: "eth0"},
			stmt: `add rule inet netlab input meta nfproto ipv6 iifname "eth0" meta l4proto icmpv6 icmpv6 type nd-neighbor-solicit counter accept`,
			nft: `[ meta load nfproto => reg 1 ]
[ cmp eq reg 1 0x0000000a ]
[ meta load iifname => reg 1 ]
[ cmp eq reg 1 0x30687465 0x00000000 0x00000000 0x00000000 ]
[ meta load l4proto => reg 1 ]
[ cmp eq reg 1 0x0000003a ]
[ payload load 1b @ transport header + 0 => reg 1 ]
[ cmp eq reg 1 0x00000087 ]
[ counter pkts 0 bytes 0 ]
[ immediate reg 0 accept ]
`,
		},
		{
			name: "bridged frames: the ethertype says the IP version; a /20 is masked", table: Bridge,
			rule: Rule{Chain: Forward, Action: Drop, Src: netip.MustParsePrefix("192.0.0.0/20"), OIF: "p2"},
			stmt: `add rule bridge netlab forward meta protocol ip ip saddr 192.0.0.0/20 oifname "p2" counter drop`,
			nft: `[ meta load protocol => reg 1 ]
[ cmp eq reg 1 0x00000008 ]
[ payload load 4b @ network header + 12 => reg 1 ]
[ bitwise reg 1 = ( reg 1 & 0x00f0ffff ) ^ 0x00000000 ]
[ cmp eq reg 1 0x000000c0 ]
[ meta load oifname => reg 1 ]
[ cmp eq reg 1 0x00003270 0x00000000 0x00000000 0x00000000 ]
[ counter pkts 0 bytes 0 ]
[ immediate reg 0 drop ]
`,
		},
		{
			name: "everything, with a comment", table: Inet,
			rule: Rule{Chain: Output, Action: Accept, Comment: "nodes.h1.firewall[0]"},
			stmt: `add rule inet netlab output counter accept comment "nodes.h1.firewall[0]"`,
			nft:  "[ counter pkts 0 bytes 0 ]\n[ immediate reg 0 accept ]\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmt, err := Statement(tt.table, tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if stmt != tt.stmt {
				t.Errorf("statement\n got %s\nwant %s", stmt, tt.stmt)
			}
			es, err := buildExprs(tt.table, tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if got := debug(es); got != tt.nft {
				t.Errorf("expressions\n got:\n%s\nwant:\n%s", got, tt.nft)
			}
			// Every expression marshals (the library accepts it), and the
			// expressions decode back into the same rule, family filled in.
			for _, e := range es {
				if _, err := expr.Marshal(byte(tt.table.Family), e); err != nil {
					t.Errorf("marshal %T: %v", e, err)
				}
			}
			got, _, _, err := decode(tt.table, tt.rule.Chain, roundTrip(t, tt.table, es))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want, _ := tt.rule.normalize()
			want.Comment = ""
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
		})
	}
}

// roundTrip marshals expressions and unmarshals them into fresh values, as
// a listing from the kernel would deliver them.
func roundTrip(t *testing.T, tab Table, es []expr.Any) []expr.Any {
	t.Helper()
	var out []expr.Any
	for _, e := range es {
		data, err := expr.MarshalExprData(byte(tab.Family), e)
		if err != nil {
			t.Fatal(err)
		}
		fresh := reflect.New(reflect.TypeOf(e).Elem()).Interface().(expr.Any)
		if err := expr.Unmarshal(byte(tab.Family), data, fresh); err != nil {
			t.Fatalf("unmarshal %T: %v", e, err)
		}
		out = append(out, fresh)
	}
	return out
}

func TestCompileRefuses(t *testing.T) {
	for _, tt := range []struct {
		rule Rule
		want string
	}{
		{Rule{Chain: "prerouting", Action: Drop}, "chain"},
		{Rule{Chain: Input, Action: "log"}, "action"},
		{Rule{Chain: Input, Action: Drop, Proto: "sctp"}, "proto"},
		{Rule{Chain: Input, Action: Drop, Family: "ipx"}, "family"},
		{Rule{Chain: Input, Action: Drop, Proto: ICMP, Family: IPv6}, "proto icmp is ipv4 but the rule is ipv6"},
		{Rule{Chain: Input, Action: Drop, Src: netip.MustParsePrefix("192.0.2.0/24"), Dst: netip.MustParsePrefix("2001:db8::/32")}, "is ipv6 but the rule is ipv4"},
		{Rule{Chain: Input, Action: Drop, Src: netip.MustParsePrefix("192.0.2.1/24")}, "host bits"},
		{Rule{Chain: Input, Action: Drop, Proto: UDP, ICMPType: u8(8)}, "icmp_type needs"},
		{Rule{Chain: Input, Action: Drop, Dport: 9}, "sport/dport need"},
		{Rule{Chain: Input, Action: Drop, IIF: "a-name-of-16-byt"}, "longer than 15"},
	} {
		if _, err := Statement(Inet, tt.rule); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.rule, err, tt.want)
		}
	}
}

func TestNormalizePrefixZero(t *testing.T) {
	// A /0 only limits the family.
	r := Rule{Chain: Input, Action: Drop, Src: netip.MustParsePrefix("0.0.0.0/0")}
	s, err := Statement(Inet, r)
	if err != nil || s != "add rule inet netlab input meta nfproto ipv4 counter drop" {
		t.Errorf("got %q, %v", s, err)
	}
}

func TestDecodeForeign(t *testing.T) {
	es, err := buildExprs(Inet, Rule{Chain: Input, Action: Drop, Proto: TCP, Dport: 22})
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]expr.Any{
		"a log statement":                      append([]expr.Any{&expr.Log{}}, es...),
		"no verdict":                           es[:len(es)-1],
		"a jump":                               append(append([]expr.Any{}, es[:len(es)-1]...), &expr.Verdict{Kind: expr.VerdictJump, Chain: "x"}),
		"cmp neq":                              append([]expr.Any{load(expr.MetaKeyL4PROTO), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{6}}}, es[4:]...),
		"a dangling meta":                      {load(expr.MetaKeyL4PROTO)},
		"an unknown l4":                        append([]expr.Any{load(expr.MetaKeyL4PROTO), eq([]byte{unix.IPPROTO_SCTP})}, es[4:]...),
		"ports out of the order netlab writes": append([]expr.Any{es[2], es[3], es[0], es[1]}, es[4:]...),
	} {
		if r, _, _, err := decode(Inet, Input, in); err == nil {
			t.Errorf("%s: decoded as %+v, want it reported as foreign", name, r)
		}
	}
	// Counters come back.
	es[len(es)-2] = &expr.Counter{Packets: 3, Bytes: 180}
	if _, p, b, err := decode(Inet, Input, es); err != nil || p != 3 || b != 180 {
		t.Errorf("counter: %d packets, %d bytes, %v", p, b, err)
	}
}

func TestTableStatement(t *testing.T) {
	if got, want := TableStatement(Inet), "add table inet netlab { chain input { type filter hook input priority filter; policy accept; }; chain output { type filter hook output priority filter; policy accept; }; chain forward { type filter hook forward priority filter; policy accept; }; }"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := TableStatement(Bridge), "add table bridge netlab { chain forward { type filter hook forward priority filter; policy accept; }; }"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if (Options{Bridge: true}).TableOf(Rule{Chain: Forward}) != Bridge || (Options{Bridge: true}).TableOf(Rule{Chain: Input}) != Inet || (Options{}).TableOf(Rule{Chain: Forward}) != Inet {
		t.Error("TableOf")
	}
}

func TestRuleJSON(t *testing.T) {
	b, err := json.Marshal(Rule{Chain: Input, Action: Drop, Proto: ICMP, ICMPType: u8(8), Src: netip.MustParsePrefix("192.0.2.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"chain":"input","action":"drop","proto":"icmp","icmp_type":8,"src":"192.0.2.0/24"}`; string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}

// fuzzExprs reads an expression list from fuzz input: one byte picks the
// kind, the next ones its fields.
func fuzzExprs(b []byte) []expr.Any {
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		c := b[0]
		b = b[1:]
		return c
	}
	bytesOf := func(n int) []byte {
		out := make([]byte, 0, n)
		for range n {
			out = append(out, next())
		}
		return out
	}
	var out []expr.Any
	for len(b) > 0 && len(out) < 32 {
		switch next() % 8 {
		case 0:
			out = append(out, load(expr.MetaKey(next()%32)))
		case 1:
			out = append(out, &expr.Cmp{Op: expr.CmpOp(next() % 3), Register: 1, Data: bytesOf(int(next() % 17))})
		case 2:
			out = append(out, payload(expr.PayloadBase(next()%3), uint32(next()%40), uint32(next()%17)))
		case 3:
			n := int(next() % 17)
			out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(n), Mask: bytesOf(n), Xor: make([]byte, n)})
		case 4:
			out = append(out, &expr.Counter{Packets: uint64(next()), Bytes: uint64(next())})
		case 5:
			kinds := []expr.VerdictKind{expr.VerdictAccept, expr.VerdictDrop, expr.VerdictJump, expr.VerdictReturn}
			out = append(out, &expr.Verdict{Kind: kinds[next()%4]})
		case 6:
			out = append(out, &expr.Reject{Type: uint32(next() % 3), Code: next() % 4})
		default:
			out = append(out, &expr.Log{})
		}
	}
	return out
}

// FuzzDecode: decoding never panics, and whatever it accepts compiles back
// to the same expressions (so List never misreports a rule).
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 16, 1, 0, 1, 6, 2, 2, 2, 2, 1, 0, 2, 0, 9, 4, 0, 0, 5, 3})
	f.Add([]byte{0, 15, 1, 0, 1, 2, 2, 1, 12, 4, 3, 4, 255, 255, 240, 0, 1, 0, 4, 192, 0, 0, 0, 4, 1, 1, 6})
	f.Fuzz(func(t *testing.T, b []byte) {
		es := fuzzExprs(b)
		for _, tab := range []Table{Inet, Bridge} {
			r, _, _, err := decode(tab, Input, es)
			if err != nil {
				continue
			}
			want, err := buildExprs(tab, r)
			if err != nil || !sameExprs(byte(tab.Family), want, es) {
				t.Fatalf("decoded %+v from %s; it compiles to\n%s(%v)", r, debug(es), debug(want), err)
			}
		}
	})
}
