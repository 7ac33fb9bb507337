// Package nlattr splits netlink attributes safely: the netlink library's
// nl.ParseRouteAttr panics on an attribute shorter than its header and reads
// past an unpadded last one, and netlab decodes kernel messages (and fuzzes
// its decoders) itself.
package nlattr

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Attr is one attribute: its type with the NESTED and NET_BYTEORDER flag
// bits masked off, and its value.
type Attr struct {
	Type  uint16
	Value []byte
}

// Parse splits b (native byte order) into attributes, refusing a bad
// length. A trailing fragment shorter than an attribute header is ignored,
// as the kernel's own parser does.
func Parse(b []byte) ([]Attr, error) {
	var out []Attr
	for len(b) >= unix.SizeofRtAttr {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < unix.SizeofRtAttr || n > len(b) {
			return nil, fmt.Errorf("bad attribute length %d (%d bytes left)", n, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		out = append(out, Attr{Type: typ, Value: b[unix.SizeofRtAttr:n]})
		b = b[min(Align(n), len(b)):]
	}
	return out, nil
}

// Align rounds n up to the netlink alignment (4 bytes).
func Align(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }
