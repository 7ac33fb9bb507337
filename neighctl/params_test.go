package neighctl

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ---------------------------------------------------------------------------
// Hand-built RTM_NEWNEIGHTBL messages.

func ndtmsgBytes(family uint8, attrs ...*nl.RtAttr) []byte {
	b := []byte{family, 0, 0, 0}
	for _, a := range attrs {
		b = append(b, a.Serialize()...)
	}
	return b
}

func u64Attr(typ int, v uint64) *nl.RtAttr { return nl.NewRtAttr(typ, nl.Uint64Attr(v)) }

// parmsAttr builds NDTA_PARMS; ifindex 0 leaves NDTPA_IFINDEX out (the
// table's defaults), as the kernel does.
func parmsAttr(ifindex uint32, base uint64) *nl.RtAttr {
	p := nl.NewRtAttr(ndtaParms, nil)
	if ifindex != 0 {
		p.AddChild(u32Attr(ndtpaIfindex, ifindex))
	}
	for _, a := range []struct {
		typ int
		v   uint32
	}{{ndtpaRefcnt, 1}, {ndtpaQueueLenbytes, 212992}, {ndtpaQueueLen, 101}, {ndtpaProxyQlen, 64},
		{ndtpaAppProbes, 1}, {ndtpaUcastProbes, 4}, {ndtpaMcastProbes, 5}, {ndtpaMcastReprobes, 6}} {
		p.AddChild(u32Attr(a.typ, a.v))
	}
	for _, a := range []struct {
		typ int
		v   uint64
	}{{ndtpaReachableTime, base * 3 / 4}, {ndtpaBaseReachableTime, base}, {ndtpaGCStaletime, 7000},
		{ndtpaDelayProbeTime, 2000}, {ndtpaRetransTime, 1500}, {ndtpaAnycastDelay, 1000},
		{ndtpaProxyDelay, 800}, {ndtpaLocktime, 1000}} {
		p.AddChild(u64Attr(a.typ, a.v))
	}
	p.AddChild(nl.NewRtAttr(18, []byte{0, 0, 0, 0})) // NDTPA_PAD: skipped
	p.AddChild(u64Attr(ndtpaIntervalProbeMS, 5000))
	return p
}

func ndtConfig(entries, lastFlush, lastRand, hashRnd, hashMask uint32) *nl.RtAttr {
	b := make([]byte, 32)
	binary.NativeEndian.PutUint16(b[0:], 4)
	binary.NativeEndian.PutUint16(b[2:], 336)
	for i, v := range []uint32{entries, lastFlush, lastRand, hashRnd, hashMask, 0, 3} {
		binary.NativeEndian.PutUint32(b[4+4*i:], v)
	}
	return nl.NewRtAttr(ndtaConfig, b)
}

func ndtStats(base uint64) *nl.RtAttr {
	b := make([]byte, 88)
	for i := range 11 {
		binary.NativeEndian.PutUint64(b[8*i:], base+uint64(i))
	}
	return nl.NewRtAttr(ndtaStats, b)
}

func handBuiltTables() [][]byte {
	name := nl.NewRtAttr(ndtaName, nl.ZeroTerminated("arp_cache"))
	nested := parmsAttr(0, 30000)
	nested.Type |= unix.NLA_F_NESTED // newer kernels may set it: must not matter
	return [][]byte{
		ndtmsgBytes(unix.AF_INET, name, u64Attr(ndtaGCInterval, 30000),
			u32Attr(ndtaThresh1, 128), u32Attr(ndtaThresh2, 512), u32Attr(ndtaThresh3, 1024),
			ndtConfig(3, 1000, 2000, 0xdeadbeef, 0x1f), nested, ndtStats(100)),
		ndtmsgBytes(unix.AF_INET, name, parmsAttr(7, 4000)),
		ndtmsgBytes(unix.AF_INET, name, parmsAttr(2, 8000)),
		ndtmsgBytes(unix.AF_INET6, nl.NewRtAttr(ndtaName, nl.ZeroTerminated("ndisc_cache")), parmsAttr(2, 6000)),
	}
}

func TestDecodeTablesHandBuilt(t *testing.T) {
	ts, err := DecodeTables(handBuiltTables())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "arp_cache" || ts[0].Family != "inet" || ts[1].Name != "ndisc_cache" || ts[1].Family != "inet6" {
		t.Fatalf("tables: %+v", ts)
	}
	arp := ts[0]
	wantParams := func(ifindex int, base int64) Params {
		return Params{Family: "inet", Table: "arp_cache", Ifindex: ifindex, Refcnt: 1,
			ReachableTimeMS: base * 3 / 4, BaseReachableTimeMS: base, RetransTimeMS: 1500, GCStaleTimeMS: 7000,
			DelayFirstProbeTimeMS: 2000, AnycastDelayMS: 1000, ProxyDelayMS: 800, LocktimeMS: 1000,
			IntervalProbeTimeMS: 5000, QueueLen: 101, QueueLenBytes: 212992, ProxyQueueLen: 64,
			AppProbes: 1, UcastProbes: 4, McastProbes: 5, McastReprobes: 6}
	}
	want := Table{Family: "inet", Name: "arp_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, GCIntervalMS: 30000,
		Entries: 3, KeyLen: 4, EntrySize: 336, LastFlushMS: 1000, LastRandMS: 2000, HashRnd: 0xdeadbeef,
		HashMask: 0x1f, HashChainGC: 0, ProxyQLen: 3,
		Stats: Stats{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110},
		// Device order is the dump's: Tables sorts by ifindex, DecodeTables does not.
		Default: wantParams(0, 30000), Devices: []Params{wantParams(7, 4000), wantParams(2, 8000)}}
	if fmt.Sprintf("%+v", arp) != fmt.Sprintf("%+v", want) {
		t.Errorf("arp_cache:\n got %+v\nwant %+v", arp, want)
	}
	if p := arp.Device("eth0"); p != nil {
		t.Errorf("Device(eth0) = %+v: the names are filled in by Tables only", p)
	}
	nd := ts[1]
	if len(nd.Devices) != 1 || nd.Devices[0].BaseReachableTimeMS != 6000 || nd.Devices[0].Family != "inet6" || nd.Thresh1 != 0 {
		t.Errorf("ndisc_cache: %+v", nd)
	}
}

func TestDecodeTablesRejects(t *testing.T) {
	name := nl.NewRtAttr(ndtaName, nl.ZeroTerminated("arp_cache"))
	short := func(typ int, n int) *nl.RtAttr { return nl.NewRtAttr(typ, make([]byte, n)) }
	shortParm := func(typ int, n int) *nl.RtAttr {
		p := nl.NewRtAttr(ndtaParms, nil)
		p.AddChild(nl.NewRtAttr(typ, make([]byte, n)))
		return p
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"short ndtmsg", []byte{2, 0, 0}},
		{"no NDTA_NAME", ndtmsgBytes(unix.AF_INET, u32Attr(ndtaThresh1, 1))},
		{"short threshold", ndtmsgBytes(unix.AF_INET, name, short(ndtaThresh2, 2))},
		{"short gc_interval", ndtmsgBytes(unix.AF_INET, name, short(ndtaGCInterval, 4))},
		{"short ndt_config", ndtmsgBytes(unix.AF_INET, name, short(ndtaConfig, 31))},
		{"short ndt_stats", ndtmsgBytes(unix.AF_INET, name, short(ndtaStats, 80))},
		{"short u32 parameter", ndtmsgBytes(unix.AF_INET, name, shortParm(ndtpaUcastProbes, 2))},
		{"short u64 parameter", ndtmsgBytes(unix.AF_INET, name, shortParm(ndtpaBaseReachableTime, 4))},
		{"broken nested attribute", ndtmsgBytes(unix.AF_INET, name, nl.NewRtAttr(ndtaParms, []byte{9, 0, 1, 0, 0, 0, 0, 0}))},
		{"attribute past the end", ndtmsgBytes(unix.AF_INET, name)[:9]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ts, err := DecodeTables([][]byte{handBuiltTables()[0], tc.msg}); err == nil {
				t.Errorf("DecodeTables = %+v, want an error", ts)
			}
		})
	}
	if ts, err := DecodeTables(nil); err != nil || len(ts) != 0 {
		t.Errorf("DecodeTables(nil) = %v, %v", ts, err)
	}
}

// ---------------------------------------------------------------------------
// Recorded kernel bytes, with iproute2's text of the same moment as the
// independent witness (TestRecordTables in root_test.go writes them).

const (
	ntableHex      = "testdata/ntable.hex"
	ntableIP       = "testdata/ntable.ip.txt"        // `ip -s ntable show` right after the dump
	ntableIPBefore = "testdata/ntable.ip-before.txt" // ... and right before it
)

// recordedTables is the content of ntable.hex: the dump's payloads, when
// they were received, and the namespace's links (ifindex -> name), which
// iproute2 prints as device names.
type recordedTables struct {
	comments []string
	dumpedAt time.Time
	links    map[int]string
	msgs     [][]byte
}

func (r recordedTables) write(path string) error {
	var b bytes.Buffer
	for _, c := range r.comments {
		fmt.Fprintf(&b, "# %s\n", c)
	}
	fmt.Fprintf(&b, "# dumped_at_unix_ms: %d\n", r.dumpedAt.UnixMilli())
	idx := make([]int, 0, len(r.links))
	for i := range r.links {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		fmt.Fprintf(&b, "# link: %d %s\n", i, r.links[i])
	}
	for _, m := range r.msgs {
		fmt.Fprintln(&b, hex.EncodeToString(m))
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func readRecordedTables(path string) (recordedTables, error) {
	r := recordedTables{links: map[int]string{}}
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "# dumped_at_unix_ms: "):
			ms, err := strconv.ParseInt(strings.TrimPrefix(line, "# dumped_at_unix_ms: "), 10, 64)
			if err != nil {
				return r, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			r.dumpedAt = time.UnixMilli(ms).UTC()
		case strings.HasPrefix(line, "# link: "):
			var i int
			var name string
			if _, err := fmt.Sscanf(line, "# link: %d %s", &i, &name); err != nil {
				return r, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			r.links[i] = name
		case strings.HasPrefix(line, "#"):
			r.comments = append(r.comments, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		default:
			b, err := hex.DecodeString(line)
			if err != nil {
				return r, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			r.msgs = append(r.msgs, b)
		}
	}
	if err := sc.Err(); err != nil {
		return r, err
	}
	if r.dumpedAt.IsZero() || len(r.msgs) == 0 {
		return r, fmt.Errorf("%s: no dump time or no messages", path)
	}
	return r, nil
}

// ipNtable is one block of `ip -s ntable show` text: one RTM_NEWNEIGHTBL
// message as iproute2 printed it.
type ipNtable struct {
	family, name, dev string
	nums              map[string]uint64
	dates             map[string]time.Time // last_flush, last_rand (UTC)
	keys              []string             // of nums, in printed order
}

func (b ipNtable) String() string {
	s := b.family + " " + b.name
	if b.dev != "" {
		s += " dev " + b.dev
	}
	return s
}

// parseIPNtable parses iproute2's text (ipntable.c print_ntable): blocks
// separated by blank lines, a "FAMILY NAME" line, then "key value" pairs;
// "config" and "stats" are section words, "dev" takes a name, hash_mask is
// hexadecimal, last_flush and last_rand are "YYYY-MM-DD HH:MM:SS" (ip was
// run with TZ=UTC).
func parseIPNtable(text string) ([]ipNtable, error) {
	var out []ipNtable
	for n, block := range strings.Split(strings.TrimSpace(text), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		head := strings.Fields(lines[0])
		if len(head) != 2 {
			return nil, fmt.Errorf("block %d: head %q", n, lines[0])
		}
		b := ipNtable{family: head[0], name: head[1], nums: map[string]uint64{}, dates: map[string]time.Time{}}
		toks := strings.Fields(strings.Join(lines[1:], " "))
		for i := 0; i < len(toks); {
			k := toks[i]
			switch k {
			case "config", "stats":
				i++
				continue
			}
			if i+1 >= len(toks) {
				return nil, fmt.Errorf("block %d (%s): %q has no value", n, b, k)
			}
			v := toks[i+1]
			i += 2
			if slices.Contains(b.keys, k) || b.dates[k] != (time.Time{}) {
				return nil, fmt.Errorf("block %d (%s): %s twice", n, b, k)
			}
			var err error
			switch k {
			case "dev":
				b.dev = v
				continue
			case "last_flush", "last_rand":
				if i >= len(toks) {
					return nil, fmt.Errorf("block %d: %s without a time", n, k)
				}
				b.dates[k], err = time.Parse(time.DateTime, v+" "+toks[i])
				i++
				if err != nil {
					return nil, fmt.Errorf("block %d (%s): %s: %w", n, b, k, err)
				}
				continue
			case "hash_mask":
				b.nums[k], err = strconv.ParseUint(v, 16, 64)
			default:
				b.nums[k], err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("block %d (%s): %s: %w", n, b, k, err)
			}
			b.keys = append(b.keys, k)
		}
		out = append(out, b)
	}
	return out, nil
}

// paramsView names a Params' numbers as iproute2 prints them.
func paramsView(p Params) map[string]uint64 {
	return map[string]uint64{
		"refcnt": uint64(p.Refcnt), "reachable": uint64(p.ReachableTimeMS),
		"base_reachable": uint64(p.BaseReachableTimeMS), "retrans": uint64(p.RetransTimeMS),
		"gc_stale": uint64(p.GCStaleTimeMS), "delay_probe": uint64(p.DelayFirstProbeTimeMS),
		"queue": uint64(p.QueueLen), "app_probes": uint64(p.AppProbes),
		"ucast_probes": uint64(p.UcastProbes), "mcast_probes": uint64(p.McastProbes),
		"anycast_delay": uint64(p.AnycastDelayMS), "proxy_delay": uint64(p.ProxyDelayMS),
		"proxy_queue": uint64(p.ProxyQueueLen), "locktime": uint64(p.LocktimeMS),
	}
}

// tableView names a table message's numbers (its default parameters
// included) as iproute2 prints them.
func tableView(t Table) map[string]uint64 {
	v := paramsView(t.Default)
	for k, x := range map[string]uint64{
		"thresh1": uint64(t.Thresh1), "thresh2": uint64(t.Thresh2), "thresh3": uint64(t.Thresh3),
		"gc_int": uint64(t.GCIntervalMS), "key_len": uint64(t.KeyLen), "entry_size": uint64(t.EntrySize),
		"entries": uint64(t.Entries), "hash_rnd": uint64(t.HashRnd), "hash_mask": uint64(t.HashMask),
		"hash_chain_gc": uint64(t.HashChainGC), "proxy_qlen": uint64(t.ProxyQLen),
		"allocs": t.Stats.Allocs, "destroys": t.Stats.Destroys, "hash_grows": t.Stats.HashGrows,
		"res_failed": t.Stats.ResFailed, "lookups": t.Stats.Lookups, "hits": t.Stats.Hits,
		"rcv_probes_mcast": t.Stats.RcvProbesMcast, "rcv_probes_ucast": t.Stats.RcvProbesUcast,
		"periodic_gc_runs": t.Stats.PeriodicGCRuns, "forced_gc_runs": t.Stats.ForcedGCRuns,
		"table_fulls": t.Stats.TableFulls,
	} {
		v[k] = x
	}
	return v
}

// monotonic are the global counters that other namespaces' traffic moves
// while we read: the dump's value must lie between ip's reading before it
// and ip's reading after it. entries is global too but goes both ways.
var monotonic = map[string]bool{
	"allocs": true, "destroys": true, "hash_grows": true, "res_failed": true, "lookups": true,
	"hits": true, "rcv_probes_mcast": true, "rcv_probes_ucast": true, "periodic_gc_runs": true,
	"forced_gc_runs": true, "table_fulls": true,
}

// ntableProblems compares decoded tables with iproute2's two readings,
// block by block in dump order: every number ip prints must be one the
// decoder produced, with the same value (global counters: between the two
// readings; last_flush/last_rand: the same instant to ip's one-second
// resolution).
func ntableProblems(ts []Table, rec recordedTables, before, after []ipNtable) []string {
	var probs []string
	bad := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }
	type item struct {
		t *Table
		p *Params // nil: the table message
	}
	var items []item
	next := map[string]int{}
	for _, b := range after {
		var t *Table
		for i := range ts {
			if ts[i].Family == b.family && ts[i].Name == b.name {
				t = &ts[i]
			}
		}
		if t == nil {
			bad("ip shows %s, not decoded", b)
			continue
		}
		if b.dev == "" {
			items = append(items, item{t, nil})
			continue
		}
		k := t.Family + t.Name
		if next[k] >= len(t.Devices) {
			bad("ip shows %s, decoded only %d devices", b, len(t.Devices))
			continue
		}
		p := &t.Devices[next[k]]
		next[k]++
		if rec.links[p.Ifindex] != b.dev {
			bad("ip shows %s where the dump has ifindex %d (%q)", b, p.Ifindex, rec.links[p.Ifindex])
		}
		items = append(items, item{t, p})
	}
	if len(probs) > 0 {
		return probs
	}
	ndev := 0
	for _, t := range ts {
		ndev += 1 + len(t.Devices)
	}
	if len(items) != ndev || len(before) != len(after) {
		bad("ip printed %d blocks after and %d before; decoded %d tables and devices", len(after), len(before), ndev)
		return probs
	}
	for i, b := range after {
		if before[i].String() != b.String() {
			bad("block %d: %s before, %s after", i, before[i], b)
			continue
		}
		var view map[string]uint64
		if it := items[i]; it.p == nil {
			view = tableView(*it.t)
			for _, k := range []string{"last_flush", "last_rand"} {
				if _, ok := b.dates[k]; !ok {
					bad("%s: ip shows no %s (ran without -s?)", b, k)
				}
			}
			for k, at := range b.dates {
				ms := it.t.LastFlushMS
				if k == "last_rand" {
					ms = it.t.LastRandMS
				}
				// ip prints now - ms/1000 truncated to the second.
				if d := at.Sub(rec.dumpedAt.Add(-time.Duration(ms) * time.Millisecond)); d < -2*time.Second || d > 2*time.Second {
					bad("%s: %s: ip %s, dump %d ms before %s", b, k, at, ms, rec.dumpedAt)
				}
			}
		} else {
			view = paramsView(*it.p)
		}
		for _, k := range b.keys {
			got, ok := view[k]
			if !ok {
				bad("%s: ip shows %s=%d, which the decoder does not produce", b, k, b.nums[k])
				continue
			}
			lo, hi := before[i].nums[k], b.nums[k]
			switch {
			case monotonic[k]:
			case k == "entries":
				lo, hi = min(lo, hi), max(lo, hi)
			default:
				lo = hi
			}
			if got < lo || got > hi {
				bad("%s: %s = %d decoded, ip says %d (before: %d)", b, k, got, b.nums[k], before[i].nums[k])
			}
		}
	}
	return probs
}

func loadRecorded(t *testing.T) (recordedTables, []Table, []ipNtable, []ipNtable) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("testdata/ntable.hex holds little-endian (amd64) messages")
	}
	rec, err := readRecordedTables(ntableHex)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := DecodeTables(rec.msgs)
	if err != nil {
		t.Fatal(err)
	}
	var ip [2][]ipNtable
	for i, p := range []string{ntableIPBefore, ntableIP} {
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if ip[i], err = parseIPNtable(string(text)); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return rec, ts, ip[0], ip[1]
}

func TestDecodeRecordedTables(t *testing.T) {
	rec, ts, before, after := loadRecorded(t)
	for _, c := range rec.comments {
		t.Log(c)
	}
	for _, p := range ntableProblems(ts, rec, before, after) {
		t.Error(p)
	}
	// The witness really covers what it should: every block carries the
	// parameter lines, table blocks the config and stats lines too.
	nkeys := 0
	for _, b := range after {
		nkeys += len(b.keys)
		want := []string{"refcnt", "reachable", "base_reachable", "retrans", "gc_stale", "delay_probe",
			"queue", "app_probes", "ucast_probes", "mcast_probes", "anycast_delay", "proxy_delay",
			"proxy_queue", "locktime"}
		if b.dev == "" {
			want = append(want, "thresh1", "thresh2", "thresh3", "gc_int", "entries", "key_len",
				"hash_rnd", "hash_mask", "allocs", "lookups", "hits", "periodic_gc_runs")
		}
		for _, k := range want {
			if !slices.Contains(b.keys, k) {
				t.Errorf("%s: ip text has no %s", b, k)
			}
		}
	}
	t.Logf("%d messages, %d ip blocks, %d numbers compared", len(rec.msgs), len(after), nkeys)

	// The distinctive values TestRecordTables set on eth0.
	dev := func(table, name string) *Params {
		for i := range ts {
			if ts[i].Name != table {
				continue
			}
			for j := range ts[i].Devices {
				if rec.links[ts[i].Devices[j].Ifindex] == name {
					return &ts[i].Devices[j]
				}
			}
		}
		t.Fatalf("%s: no device %s", table, name)
		return nil
	}
	eth0 := dev("arp_cache", "eth0")
	want := Params{Family: "inet", Table: "arp_cache", Ifindex: eth0.Ifindex, Refcnt: eth0.Refcnt,
		ReachableTimeMS: eth0.ReachableTimeMS, BaseReachableTimeMS: 4000, RetransTimeMS: 1500,
		GCStaleTimeMS: 7000, DelayFirstProbeTimeMS: 2000, AppProbes: 1, UcastProbes: 4, McastProbes: 5}
	got := *eth0
	got.AnycastDelayMS, got.ProxyDelayMS, got.LocktimeMS, got.IntervalProbeTimeMS = 0, 0, 0, 0
	got.QueueLen, got.QueueLenBytes, got.ProxyQueueLen, got.McastReprobes = 0, 0, 0, 0
	if got != want {
		t.Errorf("eth0 (inet):\n got %+v\nwant %+v", got, want)
	}
	if r := eth0.ReachableTimeMS; r < 2000 || r >= 6000 {
		t.Errorf("eth0 (inet) reachable %d ms, want [2000, 6000) for base 4000", r)
	}
	eth0v6 := dev("ndisc_cache", "eth0")
	if eth0v6.BaseReachableTimeMS != 6000 || eth0v6.ReachableTimeMS < 3000 || eth0v6.ReachableTimeMS >= 9000 {
		t.Errorf("eth0 (inet6): base %d reachable %d, want 6000 and [3000, 9000)", eth0v6.BaseReachableTimeMS, eth0v6.ReachableTimeMS)
	}
	// eth1 was left alone: it has the table's defaults.
	for i := range ts {
		p := dev(ts[i].Name, "eth1")
		if p.BaseReachableTimeMS != ts[i].Default.BaseReachableTimeMS || p.GCStaleTimeMS != ts[i].Default.GCStaleTimeMS ||
			p.UcastProbes != ts[i].Default.UcastProbes {
			t.Errorf("%s eth1 %+v differs from the defaults %+v", ts[i].Name, *p, ts[i].Default)
		}
	}
}

// The comparison itself must catch a wrong decoder: spoil one number at a
// time and expect a complaint.
func TestNtableProblemsCatchesMismatches(t *testing.T) {
	rec, ts, before, after := loadRecorded(t)
	for _, spoil := range []struct {
		name string
		f    func(ts []Table)
	}{
		{"thresh3", func(ts []Table) { ts[0].Thresh3++ }},
		{"device reachable", func(ts []Table) { ts[0].Devices[0].ReachableTimeMS++ }},
		{"default locktime", func(ts []Table) { ts[1].Default.LocktimeMS-- }},
		{"lookups above the later reading", func(ts []Table) { ts[0].Stats.Lookups += 1 << 40 }},
		{"hash_rnd", func(ts []Table) { ts[1].HashRnd ^= 1 }},
		{"last_rand", func(ts []Table) { ts[0].LastRandMS += 5000 }},
		{"a device missing", func(ts []Table) { ts[1].Devices = ts[1].Devices[1:] }},
	} {
		cp, err := DecodeTables(rec.msgs)
		if err != nil {
			t.Fatal(err)
		}
		spoil.f(cp)
		if len(ntableProblems(cp, rec, before, after)) == 0 {
			t.Errorf("spoiled %s: no problem reported", spoil.name)
		}
	}
	if p := ntableProblems(ts, rec, before, after); len(p) != 0 {
		t.Errorf("unspoiled: %v", p)
	}
}

func FuzzDecodeTables(f *testing.F) {
	for _, m := range handBuiltTables() {
		f.Add(m, []byte{})
	}
	if rec, err := readRecordedTables(filepath.FromSlash(ntableHex)); err == nil {
		for i := 1; i < len(rec.msgs); i++ {
			f.Add(rec.msgs[0], rec.msgs[i])
		}
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ts, err := DecodeTables([][]byte{a, b})
		if err != nil {
			return
		}
		for _, tb := range ts {
			if tb.Name == "" {
				t.Fatalf("a table without a name: %+v", tb)
			}
		}
	})
}
