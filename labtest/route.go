package labtest

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/routectl"
)

// RouteGet asks the node's kernel how it would route one packet, as `ip
// route get` does. query is in ip's syntax: a destination, then optionally
// "from ADDR", "iif DEV" (as if the packet arrived there: forwarding and
// source checks apply; IPv4 needs from with it), "oif DEV", "mark N":
//
//	r1.RouteGet(ctx, "198.51.100.10 from 192.0.2.10 iif eth0")
//
// A refusal (no route, unreachable, prohibit, blackhole, martian) is a
// Decision with Err set, not an error: see routectl.Decision.
func (n *Node) RouteGet(ctx context.Context, query string) (*routectl.Decision, error) {
	object := "route get " + query
	q, err := parseRouteQuery(query)
	if err != nil {
		return nil, n.errorf(object, err)
	}
	return nsCall(ctx, n, object, func(ns netns.NsHandle) (*routectl.Decision, error) {
		c, err := routectl.Open(ns)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.Get(ctx, q)
	})
}

// MustRouteGet is RouteGet, failing t on error (not on a refusal: check
// the Decision's Type or Err).
func (n *Node) MustRouteGet(t testing.TB, query string) *routectl.Decision {
	t.Helper()
	d, err := n.RouteGet(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// parseRouteQuery parses RouteGet's query: "DST [from ADDR] [iif DEV] [oif
// DEV] [mark N]" (N decimal or 0x hex). It is the inverse of
// routectl.Query's String.
func parseRouteQuery(s string) (routectl.Query, error) {
	var q routectl.Query
	f := strings.Fields(s)
	if len(f) == 0 {
		return q, fmt.Errorf("route query %q: no destination", s)
	}
	var err error
	if q.To, err = netip.ParseAddr(f[0]); err != nil {
		return q, fmt.Errorf("route query %q: destination: %w", s, err)
	}
	seen := map[string]bool{}
	for i := 1; i < len(f); i += 2 {
		key := f[i]
		if i+1 >= len(f) {
			return q, fmt.Errorf("route query %q: %s needs a value", s, key)
		}
		if seen[key] {
			return q, fmt.Errorf("route query %q: %s given twice", s, key)
		}
		seen[key] = true
		v := f[i+1]
		switch key {
		case "from":
			if q.From, err = netip.ParseAddr(v); err != nil {
				return q, fmt.Errorf("route query %q: from: %w", s, err)
			}
		case "iif":
			q.IIF = v
		case "oif":
			q.OIF = v
		case "mark":
			m, err := strconv.ParseUint(v, 0, 32)
			if err != nil {
				return q, fmt.Errorf("route query %q: mark: %w", s, err)
			}
			q.Mark = uint32(m)
		default:
			return q, fmt.Errorf("route query %q: unknown keyword %q (want from, iif, oif or mark)", s, key)
		}
	}
	return q, nil
}
