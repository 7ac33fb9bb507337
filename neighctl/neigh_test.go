package neighctl

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ndmsgBytes builds a neighbour message the way the kernel lays it out
// (struct ndmsg, then attributes), with the netlink library's attribute
// encoder as an independent writer.
func ndmsgBytes(family uint8, ifindex int32, state uint16, flags uint8, attrs ...*nl.RtAttr) []byte {
	b := make([]byte, 12)
	b[0] = family
	binary.NativeEndian.PutUint32(b[4:8], uint32(ifindex))
	binary.NativeEndian.PutUint16(b[8:10], state)
	b[10] = flags
	b[11] = 1 // ndm_type RTN_UNICAST: ignored
	for _, a := range attrs {
		b = append(b, a.Serialize()...)
	}
	return b
}

func cacheInfo(confirmed, used, updated, refcnt uint32) *nl.RtAttr {
	b := make([]byte, 16)
	for i, v := range []uint32{confirmed, used, updated, refcnt} {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return nl.NewRtAttr(unix.NDA_CACHEINFO, b)
}

func u32Attr(typ int, v uint32) *nl.RtAttr { return nl.NewRtAttr(typ, nl.Uint32Attr(v)) }

var seenAt = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestDecodeNeigh(t *testing.T) {
	mac9 := []byte{2, 0, 0, 0, 0, 9}
	for _, tc := range []struct {
		name string
		msg  []byte
		want Entry
	}{{
		name: "ipv4 reachable with cache info",
		msg: ndmsgBytes(unix.AF_INET, 7, unix.NUD_REACHABLE, 0,
			nl.NewRtAttr(unix.NDA_DST, []byte{192, 0, 2, 9}),
			nl.NewRtAttr(unix.NDA_LLADDR, mac9),
			u32Attr(unix.NDA_PROBES, 2),
			cacheInfo(150, 30, 7, 1),
			nl.NewRtAttr(netlink.NDA_PROTOCOL, []byte{4})), // unknown to the decoder: skipped
		want: Entry{
			Family: unix.AF_INET, IP: netip.MustParseAddr("192.0.2.9"), Ifindex: 7,
			LLAddr: "02:00:00:00:00:09", State: Reachable, Probes: 2,
			Confirmed: seenAt.Add(-1500 * time.Millisecond), ConfirmedAgoMS: 1500,
			Used: seenAt.Add(-300 * time.Millisecond), UsedAgoMS: 300,
			Updated: seenAt.Add(-70 * time.Millisecond), UpdatedAgoMS: 70,
			Seen: seenAt,
		},
	}, {
		name: "ipv6 router stale",
		msg: ndmsgBytes(unix.AF_INET6, 3, unix.NUD_STALE, netlink.NTF_ROUTER,
			nl.NewRtAttr(unix.NDA_DST, netip.MustParseAddr("2001:db8::9").AsSlice()),
			nl.NewRtAttr(unix.NDA_LLADDR, mac9),
			cacheInfo(0, 0, 0, 0)),
		want: Entry{
			Family: unix.AF_INET6, IP: netip.MustParseAddr("2001:db8::9"), Ifindex: 3,
			LLAddr: "02:00:00:00:00:09", State: Stale, Flags: Flags{Router: true},
			Confirmed: seenAt, Used: seenAt, Updated: seenAt, Seen: seenAt,
		},
	}, {
		name: "proxy entry: no lladdr, no cache info, no device",
		msg: ndmsgBytes(unix.AF_INET, 0, unix.NUD_NONE, netlink.NTF_PROXY,
			nl.NewRtAttr(unix.NDA_DST, []byte{192, 0, 2, 11})),
		want: Entry{Family: unix.AF_INET, IP: netip.MustParseAddr("192.0.2.11"), State: None,
			Flags: Flags{Proxy: true}, Seen: seenAt},
	}, {
		name: "managed and externally learned (NDA_FLAGS_EXT)",
		msg: ndmsgBytes(unix.AF_INET6, 2, unix.NUD_INCOMPLETE, netlink.NTF_EXT_LEARNED,
			nl.NewRtAttr(unix.NDA_DST, netip.MustParseAddr("2001:db8::12").AsSlice()),
			u32Attr(netlink.NDA_FLAGS_EXT, netlink.NTF_EXT_MANAGED),
			cacheInfo(1, 2, 3, 0)),
		want: Entry{Family: unix.AF_INET6, IP: netip.MustParseAddr("2001:db8::12"), Ifindex: 2,
			State: Incomplete, Flags: Flags{ExternLearn: true, Managed: true},
			Confirmed: seenAt.Add(-10 * time.Millisecond), ConfirmedAgoMS: 10,
			Used: seenAt.Add(-20 * time.Millisecond), UsedAgoMS: 20,
			Updated: seenAt.Add(-30 * time.Millisecond), UpdatedAgoMS: 30, Seen: seenAt},
	}, {
		name: "NDA_FLAGS_EXT without managed",
		msg: ndmsgBytes(unix.AF_INET, 2, unix.NUD_PERMANENT, 0,
			nl.NewRtAttr(unix.NDA_DST, []byte{10, 0, 0, 1}),
			u32Attr(netlink.NDA_FLAGS_EXT, 0x2)),
		want: Entry{Family: unix.AF_INET, IP: netip.MustParseAddr("10.0.0.1"), Ifindex: 2,
			State: Permanent, Seen: seenAt},
	}, {
		name: "largest ages do not overflow",
		msg: ndmsgBytes(unix.AF_INET, 2, unix.NUD_STALE, 0,
			nl.NewRtAttr(unix.NDA_DST, []byte{10, 0, 0, 2}),
			cacheInfo(0xffffffff, 0xffffffff, 0xffffffff, 0)),
		want: Entry{Family: unix.AF_INET, IP: netip.MustParseAddr("10.0.0.2"), Ifindex: 2, State: Stale,
			Confirmed: seenAt.Add(-42949672950 * time.Millisecond), ConfirmedAgoMS: 42949672950,
			Used: seenAt.Add(-42949672950 * time.Millisecond), UsedAgoMS: 42949672950,
			Updated: seenAt.Add(-42949672950 * time.Millisecond), UpdatedAgoMS: 42949672950, Seen: seenAt},
	}, {
		name: "an attribute type with a flag bit is still recognised",
		msg: ndmsgBytes(unix.AF_INET, 2, unix.NUD_STALE, 0,
			nl.NewRtAttr(unix.NDA_DST|unix.NLA_F_NET_BYTEORDER, []byte{10, 0, 0, 3})),
		want: Entry{Family: unix.AF_INET, IP: netip.MustParseAddr("10.0.0.3"), Ifindex: 2, State: Stale, Seen: seenAt},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeNeigh(tc.msg, seenAt)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("decodeNeigh:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeNeighRejects(t *testing.T) {
	dst4 := nl.NewRtAttr(unix.NDA_DST, []byte{192, 0, 2, 1})
	valid := ndmsgBytes(unix.AF_INET, 2, unix.NUD_STALE, 0, dst4)
	if _, err := decodeNeigh(valid, seenAt); err != nil {
		t.Fatalf("the valid base message: %v", err)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"short ndmsg", valid[:11]},
		{"no NDA_DST", ndmsgBytes(unix.AF_INET, 2, unix.NUD_STALE, 0, nl.NewRtAttr(unix.NDA_LLADDR, []byte{1, 2, 3, 4, 5, 6}))},
		{"NDA_DST of 5 bytes", ndmsgBytes(unix.AF_INET, 2, unix.NUD_STALE, 0, nl.NewRtAttr(unix.NDA_DST, []byte{1, 2, 3, 4, 5}))},
		{"NDA_DST empty", ndmsgBytes(unix.AF_INET, 2, unix.NUD_STALE, 0, nl.NewRtAttr(unix.NDA_DST, nil))},
		{"attribute longer than the message", valid[:len(valid)-1]},
		{"attribute length below the header", append(slices.Clone(valid[:12]), 3, 0, 1, 0, 0, 0, 0, 0)},
		{"attribute length zero", append(slices.Clone(valid[:12]), 0, 0, 1, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if e, err := decodeNeigh(tc.msg, seenAt); err == nil {
				t.Errorf("decodeNeigh = %+v, want an error", e)
			} else if errors.Is(err, errNotIP) {
				t.Errorf("error %v: a malformed message is not 'not IP'", err)
			}
		})
	}

	// A last attribute whose length is not a multiple of 4 and that is not
	// padded (the kernel always pads; a fuzzer need not): no panic, and the
	// value is read. nl.ParseRouteAttr panicked on this.
	unpadded := append(slices.Clone(valid), 5, 0, netlink.NDA_PROTOCOL, 0, 9)
	if _, err := decodeNeigh(unpadded, seenAt); err != nil {
		t.Errorf("unpadded last attribute: %v", err)
	}

	// Bridge FDB entries (and any non-IP family) are skipped, not errors.
	for _, fam := range []uint8{unix.AF_BRIDGE, unix.AF_UNSPEC, unix.AF_PACKET} {
		fdb := ndmsgBytes(fam, 4, unix.NUD_PERMANENT, netlink.NTF_SELF,
			nl.NewRtAttr(unix.NDA_LLADDR, []byte{2, 0, 0, 0, 0, 1}), u32Attr(unix.NDA_MASTER, 5))
		if _, err := decodeNeigh(fdb, seenAt); !errors.Is(err, errNotIP) {
			t.Errorf("family %d: err = %v, want errNotIP", fam, err)
		}
	}
}

func TestSortEntriesAndKey(t *testing.T) {
	mk := func(dev string, fam int, ip string, proxy bool) Entry {
		return Entry{Dev: dev, Family: fam, IP: netip.MustParseAddr(ip), Flags: Flags{Proxy: proxy}}
	}
	es := []Entry{
		mk("eth1", unix.AF_INET, "192.0.2.1", false),
		mk("eth0", unix.AF_INET6, "2001:db8::1", false),
		mk("eth0", unix.AF_INET, "192.0.2.10", true),
		mk("eth0", unix.AF_INET, "192.0.2.10", false),
		mk("eth0", unix.AF_INET, "192.0.2.9", false),
	}
	SortEntries(es)
	var got []string
	for _, e := range es {
		got = append(got, entryKey(e))
	}
	want := []string{"eth0 192.0.2.9", "eth0 192.0.2.10", "eth0 192.0.2.10 proxy", "eth0 2001:db8::1", "eth1 192.0.2.1"}
	if !slices.Equal(got, want) {
		t.Errorf("SortEntries order:\n got %q\nwant %q", got, want)
	}
	if es[1].Key() == es[2].Key() {
		t.Error("an entry and the proxy entry of the same address share a Key")
	}
	if es[0].FamilyName() != "inet" || es[3].FamilyName() != "inet6" {
		t.Errorf("FamilyName: %s, %s", es[0].FamilyName(), es[3].FamilyName())
	}
}

// entryKey names an entry for comparisons: "DEV IP" or "DEV IP proxy".
func entryKey(e Entry) string {
	s := e.Dev + " " + e.IP.String()
	if e.Flags.Proxy {
		s += " proxy"
	}
	return s
}

func FuzzDecodeNeigh(f *testing.F) {
	f.Add(ndmsgBytes(unix.AF_INET, 7, unix.NUD_REACHABLE, 0,
		nl.NewRtAttr(unix.NDA_DST, []byte{192, 0, 2, 9}),
		nl.NewRtAttr(unix.NDA_LLADDR, []byte{2, 0, 0, 0, 0, 9}),
		u32Attr(unix.NDA_PROBES, 2), cacheInfo(150, 30, 7, 1)))
	f.Add(ndmsgBytes(unix.AF_INET6, 3, unix.NUD_STALE, netlink.NTF_ROUTER|netlink.NTF_PROXY,
		nl.NewRtAttr(unix.NDA_DST, netip.MustParseAddr("2001:db8::9").AsSlice()),
		u32Attr(netlink.NDA_FLAGS_EXT, netlink.NTF_EXT_MANAGED)))
	f.Add(ndmsgBytes(unix.AF_BRIDGE, 3, unix.NUD_PERMANENT, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeNeigh(b, seenAt)
		if err != nil {
			return
		}
		if !e.IP.IsValid() || (e.Family != unix.AF_INET && e.Family != unix.AF_INET6) {
			t.Fatalf("decoded an entry without address or with family %d: %+v", e.Family, e)
		}
		if e.ConfirmedAgoMS < 0 || e.UsedAgoMS < 0 || e.UpdatedAgoMS < 0 || e.Updated.After(seenAt) {
			t.Fatalf("negative age: %+v", e)
		}
	})
}
