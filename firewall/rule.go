package firewall

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	mbits "math/bits"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/topology"
)

// Chain is a base chain of netlab's tables.
type Chain string

// The base chains.
const (
	Input   Chain = "input"
	Output  Chain = "output"
	Forward Chain = "forward"
)

// Action is a rule's verdict.
type Action string

// The verdicts. Reject answers a TCP segment with a reset and anything else
// with an ICMP (IPv4) or ICMPv6 port unreachable.
const (
	Accept Action = "accept"
	Drop   Action = "drop"
	Reject Action = "reject"
)

// Family is the IP version a rule is limited to ("" matches both).
type Family string

// The IP versions.
const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// Proto is a layer-4 protocol a rule matches ("" matches any).
type Proto string

// The protocols.
const (
	ICMP   Proto = topology.ProtoICMP
	ICMPv6 Proto = topology.ProtoICMPv6
	TCP    Proto = topology.ProtoTCP
	UDP    Proto = topology.ProtoUDP
)

// Rule is one firewall rule. Zero fields match anything.
type Rule struct {
	Chain  Chain  `json:"chain"`
	Action Action `json:"action"`
	// Family is the IP version; proto icmp implies ipv4, icmpv6 ipv6, and
	// src/dst their own.
	Family Family `json:"family,omitempty"`
	Proto  Proto  `json:"proto,omitempty"`
	// ICMPType needs proto icmp or icmpv6.
	ICMPType *uint8       `json:"icmp_type,omitempty"`
	Src      netip.Prefix `json:"src,omitzero"`
	Dst      netip.Prefix `json:"dst,omitzero"`
	// IIF and OIF are interface names (nft's iifname/oifname: a name, so a
	// rule may name an interface that does not exist yet).
	IIF string `json:"iif,omitempty"`
	OIF string `json:"oif,omitempty"`
	// Sport and Dport need proto tcp or udp.
	Sport uint16 `json:"sport,omitempty"`
	Dport uint16 `json:"dport,omitempty"`
	// Comment is stored with the rule (nft shows it as comment "...");
	// netlab puts the rule's path in the lab file there.
	Comment string `json:"comment,omitempty"`
}

// Table is one of netlab's nftables tables.
type Table struct {
	Family nftables.TableFamily
	Name   string
}

// TableName is the name of netlab's tables.
const TableName = "netlab"

// The tables: Inet holds every rule, except forward rules of a switch node,
// which go to Bridge.
var (
	Inet   = Table{Family: nftables.TableFamilyINet, Name: TableName}
	Bridge = Table{Family: nftables.TableFamilyBridge, Name: TableName}
)

func (t Table) String() string { return familyName(t.Family) + " " + t.Name }

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	}
	return "family" + strconv.Itoa(int(f))
}

// chains are a table's base chains, in the order they are created.
func (t Table) chains() []Chain {
	if t.Family == nftables.TableFamilyBridge {
		return []Chain{Forward}
	}
	return []Chain{Input, Output, Forward}
}

// priority is "priority filter" in the table's family (the bridge family's
// filter priority is -200, NF_BR_PRI_FILTER_BRIDGED).
func (t Table) priority() nftables.ChainPriority {
	if t.Family == nftables.TableFamilyBridge {
		return -200
	}
	return 0
}

// Options say where a node's rules go.
type Options struct {
	// Bridge marks a switch node (kind: bridge): its forward rules filter
	// bridged frames, in the Bridge table.
	Bridge bool
}

// TableOf is the table a rule goes to.
func (o Options) TableOf(r Rule) Table {
	if o.Bridge && r.Chain == Forward {
		return Bridge
	}
	return Inet
}

// TableStatement prints the nft command that creates a table with its base
// chains (idempotent, like nft add). Like Statement's, it is one argument
// for nft (quote it for a shell).
func TableStatement(t Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "add table %s {", t)
	for _, c := range t.chains() {
		fmt.Fprintf(&b, " chain %s { type filter hook %s priority filter; policy accept; };", c, c)
	}
	b.WriteString(" }")
	return b.String()
}

// Statement prints the nft command that adds r to t: `add rule inet netlab
// input meta l4proto tcp tcp dport 9 counter drop`. It names every match
// the kernel gets, dependencies included, in nft's own syntax.
func Statement(t Table, r Rule) (string, error) {
	ps, err := compile(t, r)
	if err != nil {
		return "", err
	}
	words := []string{"add rule", t.String(), string(r.Chain)}
	for _, p := range ps {
		words = append(words, p.text)
	}
	s := strings.Join(words, " ")
	if r.Comment != "" {
		s += " comment " + strconv.Quote(r.Comment)
	}
	return s, nil
}

// Text is the rule as nft prints it in a listing (matches, counter and
// verdict, without the table and chain).
func (r Rule) Text(t Table) string {
	ps, err := compile(t, r)
	if err != nil {
		return "invalid rule: " + err.Error()
	}
	words := make([]string, len(ps))
	for i, p := range ps {
		words[i] = p.text
	}
	return strings.Join(words, " ")
}

// piece is one match or statement: its nft words and its expressions.
type piece struct {
	text  string
	exprs []expr.Any
}

// claim is a key that limits a rule to one IP version.
type claim struct {
	what string
	fam  Family
}

// normalize checks r and fills in the family its protocol or prefixes
// imply; a /0 prefix only says its family.
func (r Rule) normalize() (Rule, error) {
	switch r.Chain {
	case Input, Output, Forward:
	default:
		return r, fmt.Errorf("chain %q: want input, output or forward", r.Chain)
	}
	switch r.Action {
	case Accept, Drop, Reject:
	default:
		return r, fmt.Errorf("action %q: want accept, drop or reject", r.Action)
	}
	var claims []claim
	switch r.Family {
	case "":
	case IPv4, IPv6:
		claims = append(claims, claim{"family " + string(r.Family), r.Family})
	default:
		return r, fmt.Errorf("family %q: want ipv4 or ipv6", r.Family)
	}
	switch r.Proto {
	case ICMP:
		claims = append(claims, claim{"proto icmp", IPv4})
	case ICMPv6:
		claims = append(claims, claim{"proto icmpv6", IPv6})
	case "", TCP, UDP:
	default:
		return r, fmt.Errorf("proto %q: want icmp, icmpv6, tcp or udp", r.Proto)
	}
	for _, pfx := range []*netip.Prefix{&r.Src, &r.Dst} {
		if !pfx.IsValid() {
			continue
		}
		if pfx.Addr().Zone() != "" || *pfx != pfx.Masked() {
			return r, fmt.Errorf("address %s: want a prefix without host bits or zone", pfx)
		}
		fam := IPv6
		if pfx.Addr().Is4() {
			fam = IPv4
		}
		claims = append(claims, claim{"address " + pfx.String(), fam})
		if pfx.Bits() == 0 {
			*pfx = netip.Prefix{}
		}
	}
	for _, c := range claims {
		if r.Family != "" && c.fam != r.Family {
			return r, fmt.Errorf("%s is %s but the rule is %s", c.what, c.fam, r.Family)
		}
		r.Family = c.fam
	}
	if r.ICMPType != nil && r.Proto != ICMP && r.Proto != ICMPv6 {
		return r, errors.New("icmp_type needs proto icmp or icmpv6")
	}
	if (r.Sport != 0 || r.Dport != 0) && r.Proto != TCP && r.Proto != UDP {
		return r, errors.New("sport/dport need proto tcp or udp")
	}
	for _, n := range []string{r.IIF, r.OIF} {
		if len(n) >= unix.IFNAMSIZ {
			return r, fmt.Errorf("interface name %q is longer than %d bytes", n, unix.IFNAMSIZ-1)
		}
	}
	return r, nil
}

// Register 1 holds every loaded value (nft uses NFT_REG_1 the same way).
const reg = 1

func load(key expr.MetaKey) *expr.Meta { return &expr.Meta{Key: key, Register: reg} }

func eq(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data} }

func payload(base expr.PayloadBase, offset, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg, Base: base, Offset: offset, Len: n}
}

// compile turns a rule into its pieces: family, addresses, interfaces,
// protocol, ICMP type or ports, counter, verdict.
func compile(t Table, r Rule) ([]piece, error) {
	r, err := r.normalize()
	if err != nil {
		return nil, err
	}
	bridge := t.Family == nftables.TableFamilyBridge
	var ps []piece
	add := func(text string, exprs ...expr.Any) { ps = append(ps, piece{text, exprs}) }
	switch {
	case r.Family == "":
	case bridge:
		// In the bridge family, nfproto is NFPROTO_BRIDGE: the frame's
		// ethertype (skb->protocol) says which IP version it carries.
		proto, word := []byte{0x08, 0x00}, "ip"
		if r.Family == IPv6 {
			proto, word = []byte{0x86, 0xdd}, "ip6"
		}
		add("meta protocol "+word, load(expr.MetaKeyPROTOCOL), eq(proto))
	default:
		nf, word := byte(unix.NFPROTO_IPV4), "ipv4"
		if r.Family == IPv6 {
			nf, word = unix.NFPROTO_IPV6, "ipv6"
		}
		add("meta nfproto "+word, load(expr.MetaKeyNFPROTO), eq([]byte{nf}))
	}
	for _, a := range []struct {
		dir string
		pfx netip.Prefix
	}{{"saddr", r.Src}, {"daddr", r.Dst}} {
		if a.pfx.IsValid() && a.pfx.Bits() > 0 {
			text, es := addrMatch(a.dir, a.pfx)
			add(text, es...)
		}
	}
	for _, i := range []struct {
		word, name string
		key        expr.MetaKey
	}{{"iifname", r.IIF, expr.MetaKeyIIFNAME}, {"oifname", r.OIF, expr.MetaKeyOIFNAME}} {
		if i.name != "" {
			name := make([]byte, unix.IFNAMSIZ)
			copy(name, i.name)
			add(i.word+" "+strconv.Quote(i.name), load(i.key), eq(name))
		}
	}
	if r.Proto != "" {
		add("meta l4proto "+string(r.Proto), load(expr.MetaKeyL4PROTO), eq([]byte{l4proto(r.Proto)}))
	}
	if r.ICMPType != nil {
		add(fmt.Sprintf("%s type %s", r.Proto, topology.ICMPTypeName(string(r.Proto), *r.ICMPType)),
			payload(expr.PayloadBaseTransportHeader, 0, 1), eq([]byte{*r.ICMPType}))
	}
	for _, p := range []struct {
		word   string
		port   uint16
		offset uint32
	}{{"sport", r.Sport, 0}, {"dport", r.Dport, 2}} {
		if p.port != 0 {
			add(fmt.Sprintf("%s %s %d", r.Proto, p.word, p.port),
				payload(expr.PayloadBaseTransportHeader, p.offset, 2), eq(binary.BigEndian.AppendUint16(nil, p.port)))
		}
	}
	add("counter", &expr.Counter{})
	switch r.Action {
	case Accept:
		add("accept", &expr.Verdict{Kind: expr.VerdictAccept})
	case Drop:
		add("drop", &expr.Verdict{Kind: expr.VerdictDrop})
	case Reject:
		if r.Proto == TCP {
			add("reject with tcp reset", &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
		} else {
			add("reject with icmpx port-unreachable", &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})
		}
	}
	return ps, nil
}

func l4proto(p Proto) byte {
	switch p {
	case ICMP:
		return unix.IPPROTO_ICMP
	case ICMPv6:
		return unix.IPPROTO_ICMPV6
	case TCP:
		return unix.IPPROTO_TCP
	}
	return unix.IPPROTO_UDP
}

// addrMatch matches a prefix as nft does: a byte-aligned prefix loads only
// its bytes; any other loads the whole address and masks it.
func addrMatch(dir string, pfx netip.Prefix) (string, []expr.Any) {
	a := pfx.Addr()
	word, offset := "ip", uint32(12)
	if a.Is6() {
		word, offset = "ip6", 8
	}
	width := a.BitLen() / 8
	if dir == "daddr" {
		offset += uint32(width)
	}
	text := word + " " + dir + " " + pfx.String()
	if pfx.IsSingleIP() {
		text = word + " " + dir + " " + a.String()
	}
	if pfx.Bits()%8 == 0 {
		n := pfx.Bits() / 8
		return text, []expr.Any{payload(expr.PayloadBaseNetworkHeader, offset, uint32(n)), eq(a.AsSlice()[:n])}
	}
	mask := make([]byte, width)
	for i := range mask {
		if bits := pfx.Bits() - 8*i; bits >= 8 {
			mask[i] = 0xff
		} else if bits > 0 {
			mask[i] = byte(0xff << (8 - bits))
		}
	}
	return text, []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, offset, uint32(width)),
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: uint32(width), Mask: mask, Xor: make([]byte, width)},
		eq(a.AsSlice()),
	}
}

// buildExprs is the rule's expression list.
func buildExprs(t Table, r Rule) ([]expr.Any, error) {
	ps, err := compile(t, r)
	if err != nil {
		return nil, err
	}
	var out []expr.Any
	for _, p := range ps {
		out = append(out, p.exprs...)
	}
	return out, nil
}

// errForeign means a rule in netlab's table was not made by netlab (or by
// a netlab that built it differently): it is listed, never guessed at.
var errForeign = errors.New("not a rule netlab makes")

// decode reads a rule's expressions back into a Rule, with its counter. It
// walks the pieces compile makes, in compile's order, then compiles the
// result again and requires the same bytes: anything else is errForeign.
func decode(t Table, chain Chain, in []expr.Any) (Rule, uint64, uint64, error) {
	r := Rule{Chain: chain}
	var packets, bytes uint64
	i := 0
	next := func() expr.Any {
		if i < len(in) {
			e := in[i]
			i++
			return e
		}
		return nil
	}
	for i < len(in) {
		switch e := next().(type) {
		case *expr.Meta:
			c, ok := next().(*expr.Cmp)
			if !ok || c.Op != expr.CmpOpEq || len(c.Data) == 0 {
				return r, 0, 0, errForeign
			}
			if err := r.decodeMeta(e.Key, c.Data); err != nil {
				return r, 0, 0, err
			}
		case *expr.Payload:
			x := next()
			var mask []byte
			if b, ok := x.(*expr.Bitwise); ok {
				mask, x = b.Mask, next()
			}
			c, ok := x.(*expr.Cmp)
			if !ok || c.Op != expr.CmpOpEq || int(e.Len) != len(c.Data) {
				return r, 0, 0, errForeign
			}
			if err := r.decodePayload(e, mask, c.Data); err != nil {
				return r, 0, 0, err
			}
		case *expr.Counter:
			packets, bytes = e.Packets, e.Bytes
		case *expr.Verdict:
			switch e.Kind {
			case expr.VerdictAccept:
				r.Action = Accept
			case expr.VerdictDrop:
				r.Action = Drop
			default:
				return r, 0, 0, errForeign
			}
		case *expr.Reject:
			r.Action = Reject
		default:
			return r, 0, 0, errForeign
		}
	}
	want, err := buildExprs(t, r)
	if err != nil || !sameExprs(byte(t.Family), want, in) {
		return r, 0, 0, errForeign
	}
	return r, packets, bytes, nil
}

func (r *Rule) decodeMeta(key expr.MetaKey, data []byte) error {
	switch key {
	case expr.MetaKeyNFPROTO:
		switch data[0] {
		case unix.NFPROTO_IPV4:
			r.Family = IPv4
		case unix.NFPROTO_IPV6:
			r.Family = IPv6
		default:
			return errForeign
		}
	case expr.MetaKeyPROTOCOL:
		switch {
		case bytes.Equal(data, []byte{0x08, 0x00}):
			r.Family = IPv4
		case bytes.Equal(data, []byte{0x86, 0xdd}):
			r.Family = IPv6
		default:
			return errForeign
		}
	case expr.MetaKeyIIFNAME:
		r.IIF = string(bytes.TrimRight(data, "\x00"))
	case expr.MetaKeyOIFNAME:
		r.OIF = string(bytes.TrimRight(data, "\x00"))
	case expr.MetaKeyL4PROTO:
		for _, p := range []Proto{ICMP, ICMPv6, TCP, UDP} {
			if l4proto(p) == data[0] {
				r.Proto = p
			}
		}
		if r.Proto == "" {
			return errForeign
		}
	default:
		return errForeign
	}
	return nil
}

func (r *Rule) decodePayload(p *expr.Payload, mask, data []byte) error {
	switch p.Base {
	case expr.PayloadBaseNetworkHeader:
		width, offset := 4, uint32(12)
		if r.Family == IPv6 {
			width, offset = 16, 8
		}
		dst := &r.Src
		if p.Offset == offset+uint32(width) {
			dst = &r.Dst
		} else if p.Offset != offset {
			return errForeign
		}
		if r.Family == "" || len(data) > width {
			return errForeign
		}
		full := make([]byte, width)
		copy(full, data)
		bits := 8 * len(data)
		if mask != nil {
			bits = 0
			for _, m := range mask {
				bits += mbits.OnesCount8(m)
			}
		}
		a, _ := netip.AddrFromSlice(full)
		*dst = netip.PrefixFrom(a, bits)
	case expr.PayloadBaseTransportHeader:
		switch {
		case p.Len == 1 && p.Offset == 0 && (r.Proto == ICMP || r.Proto == ICMPv6):
			t := data[0]
			r.ICMPType = &t
		case p.Len == 2 && p.Offset == 0 && (r.Proto == TCP || r.Proto == UDP):
			r.Sport = binary.BigEndian.Uint16(data)
		case p.Len == 2 && p.Offset == 2 && (r.Proto == TCP || r.Proto == UDP):
			r.Dport = binary.BigEndian.Uint16(data)
		default:
			return errForeign
		}
	default:
		return errForeign
	}
	return nil
}

// sameExprs compares two expression lists by their netlink encoding,
// counters zeroed.
func sameExprs(fam byte, a, b []expr.Any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ea, erra := marshal(fam, a[i])
		eb, errb := marshal(fam, b[i])
		if erra != nil || errb != nil || !bytes.Equal(ea, eb) {
			return false
		}
	}
	return true
}

func marshal(fam byte, e expr.Any) ([]byte, error) {
	if _, ok := e.(*expr.Counter); ok {
		e = &expr.Counter{}
	}
	return expr.Marshal(fam, e)
}
