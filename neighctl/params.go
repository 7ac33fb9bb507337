package neighctl

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nlattr"
)

// Neighbour-table attributes (linux/neighbour.h): x/sys/unix has none of
// them.
const (
	ndtaName       = 1
	ndtaThresh1    = 2
	ndtaThresh2    = 3
	ndtaThresh3    = 4
	ndtaConfig     = 5
	ndtaParms      = 6
	ndtaStats      = 7
	ndtaGCInterval = 8

	ndtpaIfindex           = 1
	ndtpaRefcnt            = 2
	ndtpaReachableTime     = 3
	ndtpaBaseReachableTime = 4
	ndtpaRetransTime       = 5
	ndtpaGCStaletime       = 6
	ndtpaDelayProbeTime    = 7
	ndtpaQueueLen          = 8
	ndtpaAppProbes         = 9
	ndtpaUcastProbes       = 10
	ndtpaMcastProbes       = 11
	ndtpaAnycastDelay      = 12
	ndtpaProxyDelay        = 13
	ndtpaProxyQlen         = 14
	ndtpaLocktime          = 15
	ndtpaQueueLenbytes     = 16
	ndtpaMcastReprobes     = 17
	ndtpaIntervalProbeMS   = 19
)

// Params are one set of neighbour parameters: a table's defaults, or one
// device's. Times are milliseconds, as the kernel reports them.
type Params struct {
	Family  string `json:"family"`
	Table   string `json:"table"`
	Dev     string `json:"dev,omitempty"`
	Ifindex int    `json:"ifindex,omitempty"`
	Refcnt  int    `json:"refcnt"`
	// ReachableTimeMS is the CURRENT randomised reachable time, drawn from
	// [base/2, 3*base/2) when base_reachable_time was last written or every
	// 300 s: how long an entry stays REACHABLE. No sysctl shows it.
	ReachableTimeMS       int64 `json:"reachable_time_ms"`
	BaseReachableTimeMS   int64 `json:"base_reachable_time_ms"`
	RetransTimeMS         int64 `json:"retrans_time_ms"`
	GCStaleTimeMS         int64 `json:"gc_stale_time_ms"`
	DelayFirstProbeTimeMS int64 `json:"delay_first_probe_time_ms"`
	AnycastDelayMS        int64 `json:"anycast_delay_ms"`
	ProxyDelayMS          int64 `json:"proxy_delay_ms"`
	LocktimeMS            int64 `json:"locktime_ms"`
	IntervalProbeTimeMS   int64 `json:"interval_probe_time_ms"`
	QueueLen              int   `json:"queue_len"`
	QueueLenBytes         int   `json:"queue_len_bytes"`
	ProxyQueueLen         int   `json:"proxy_queue_len"`
	AppProbes             int   `json:"app_probes"`
	UcastProbes           int   `json:"ucast_probes"`
	McastProbes           int   `json:"mcast_probes"`
	McastReprobes         int   `json:"mcast_reprobes"`
}

// Stats are a table's counters (struct ndt_stats), summed over all CPUs
// and all namespaces.
type Stats struct {
	Allocs         uint64 `json:"allocs"`
	Destroys       uint64 `json:"destroys"`
	HashGrows      uint64 `json:"hash_grows"`
	ResFailed      uint64 `json:"res_failed"`
	Lookups        uint64 `json:"lookups"`
	Hits           uint64 `json:"hits"`
	RcvProbesMcast uint64 `json:"rcv_probes_mcast"`
	RcvProbesUcast uint64 `json:"rcv_probes_ucast"`
	PeriodicGCRuns uint64 `json:"periodic_gc_runs"`
	ForcedGCRuns   uint64 `json:"forced_gc_runs"`
	TableFulls     uint64 `json:"table_fulls"`
}

// Table is one neighbour table (arp_cache, ndisc_cache). Everything but
// Devices is global: the kernel has one table per family for all
// namespaces, so Entries counts every namespace's entries and the GC
// thresholds are the root namespace's neigh/default ones.
type Table struct {
	Family string `json:"family"`
	Name   string `json:"name"`
	// GC thresholds and cadence (root namespace only).
	Thresh1      int   `json:"gc_thresh1"`
	Thresh2      int   `json:"gc_thresh2"`
	Thresh3      int   `json:"gc_thresh3"`
	GCIntervalMS int64 `json:"gc_interval_ms"`
	// From struct ndt_config.
	Entries     int    `json:"entries"`
	KeyLen      int    `json:"key_len"`
	EntrySize   int    `json:"entry_size"`
	LastFlushMS int64  `json:"last_flush_ago_ms"`
	LastRandMS  int64  `json:"last_rand_ago_ms"`
	HashRnd     uint32 `json:"hash_rnd"`
	HashMask    int    `json:"hash_mask"`
	HashChainGC int    `json:"hash_chain_gc"`
	ProxyQLen   int    `json:"proxy_queue_len"`
	Stats       Stats  `json:"stats"`
	// Default are the table's default parameters (the root namespace's
	// neigh/default); Devices are this namespace's per-device parameters.
	Default Params   `json:"default"`
	Devices []Params `json:"devices"`
}

// Device returns the table's parameters for a device, or nil.
func (t *Table) Device(dev string) *Params {
	for i := range t.Devices {
		if t.Devices[i].Dev == dev {
			return &t.Devices[i]
		}
	}
	return nil
}

type ndtmsg struct{ family uint8 }

func (m *ndtmsg) Len() int          { return 4 }
func (m *ndtmsg) Serialize() []byte { return []byte{m.family, 0, 0, 0} }

// Tables reads the neighbour tables' parameters with RTM_GETNEIGHTBL (what
// `ip ntable show` prints), for family unix.AF_INET, unix.AF_INET6 or 0 for
// both. Device names are filled in from the namespace's links.
func (c *Conn) Tables(ctx context.Context, family int) ([]Table, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	msgs, err := c.dump(unix.RTM_GETNEIGHTBL, &ndtmsg{family: uint8(family)}, unix.RTM_NEWNEIGHTBL)
	if err != nil {
		return nil, fmt.Errorf("dump neighbour tables: %w", err)
	}
	raw := make([][]byte, len(msgs))
	for i, m := range msgs {
		raw[i] = m.data
	}
	ts, err := DecodeTables(raw)
	if err != nil {
		return nil, err
	}
	names, err := c.linkNames()
	if err != nil {
		return nil, err
	}
	for i := range ts {
		for j := range ts[i].Devices {
			ts[i].Devices[j].Dev = names[ts[i].Devices[j].Ifindex]
		}
		sort.Slice(ts[i].Devices, func(a, b int) bool { return ts[i].Devices[a].Ifindex < ts[i].Devices[b].Ifindex })
	}
	return ts, nil
}

// Params returns one device's parameters in the table of family
// (unix.AF_INET or unix.AF_INET6).
func (c *Conn) Params(ctx context.Context, family int, dev string) (*Params, error) {
	ts, err := c.Tables(ctx, family)
	if err != nil {
		return nil, err
	}
	for i := range ts {
		if p := ts[i].Device(dev); p != nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("neighbour parameters of %s (%s): %w", dev, familyName(family), ErrNoDevice)
}

// DecodeTables decodes the payloads of a RTM_GETNEIGHTBL dump (each one
// an ndtmsg plus attributes). The kernel sends, per table, one message with
// the table-wide attributes and default parameters, then one message per
// device with only NDTA_NAME and NDTA_PARMS.
func DecodeTables(msgs [][]byte) ([]Table, error) {
	var out []Table
	find := func(family, name string) *Table {
		for i := range out {
			if out[i].Family == family && out[i].Name == name {
				return &out[i]
			}
		}
		out = append(out, Table{Family: family, Name: name})
		return &out[len(out)-1]
	}
	ne := nl.NativeEndian()
	for i, b := range msgs {
		if len(b) < 4 {
			return nil, fmt.Errorf("neighbour table message %d: short ndtmsg", i)
		}
		family := familyName(int(b[0]))
		attrs, err := nlattr.Parse(b[4:])
		if err != nil {
			return nil, fmt.Errorf("neighbour table message %d: %w", i, err)
		}
		var name string
		for _, a := range attrs {
			if a.Type == ndtaName {
				name, _, _ = strings.Cut(string(a.Value), "\x00") // nl.BytesToString panics on ""
			}
		}
		if name == "" {
			return nil, fmt.Errorf("neighbour table message %d: no NDTA_NAME", i)
		}
		t := find(family, name)
		var parms *Params
		for _, a := range attrs {
			v := a.Value
			switch a.Type {
			case ndtaThresh1, ndtaThresh2, ndtaThresh3:
				if len(v) < 4 {
					return nil, fmt.Errorf("table %s: short threshold", name)
				}
				x := int(ne.Uint32(v))
				switch a.Type {
				case ndtaThresh1:
					t.Thresh1 = x
				case ndtaThresh2:
					t.Thresh2 = x
				default:
					t.Thresh3 = x
				}
			case ndtaGCInterval:
				if len(v) < 8 {
					return nil, fmt.Errorf("table %s: short gc_interval", name)
				}
				t.GCIntervalMS = int64(ne.Uint64(v))
			case ndtaConfig:
				// struct ndt_config: u16 key_len, u16 entry_size, u32 entries,
				// last_flush, last_rand, hash_rnd, hash_mask, hash_chain_gc,
				// proxy_qlen.
				if len(v) < 32 {
					return nil, fmt.Errorf("table %s: short ndt_config (%d bytes)", name, len(v))
				}
				t.KeyLen, t.EntrySize = int(ne.Uint16(v[0:])), int(ne.Uint16(v[2:]))
				t.Entries = int(ne.Uint32(v[4:]))
				t.LastFlushMS, t.LastRandMS = int64(ne.Uint32(v[8:])), int64(ne.Uint32(v[12:]))
				t.HashRnd = ne.Uint32(v[16:])
				t.HashMask, t.HashChainGC, t.ProxyQLen = int(ne.Uint32(v[20:])), int(ne.Uint32(v[24:])), int(ne.Uint32(v[28:]))
			case ndtaStats:
				if len(v) < 88 {
					return nil, fmt.Errorf("table %s: short ndt_stats (%d bytes)", name, len(v))
				}
				f := []*uint64{&t.Stats.Allocs, &t.Stats.Destroys, &t.Stats.HashGrows, &t.Stats.ResFailed,
					&t.Stats.Lookups, &t.Stats.Hits, &t.Stats.RcvProbesMcast, &t.Stats.RcvProbesUcast,
					&t.Stats.PeriodicGCRuns, &t.Stats.ForcedGCRuns, &t.Stats.TableFulls}
				for k, p := range f {
					*p = ne.Uint64(v[8*k:])
				}
			case ndtaParms:
				p, err := decodeParms(v)
				if err != nil {
					return nil, fmt.Errorf("table %s: %w", name, err)
				}
				p.Family, p.Table = family, name
				parms = &p
			}
		}
		if parms == nil {
			continue
		}
		if parms.Ifindex == 0 {
			t.Default = *parms
		} else {
			t.Devices = append(t.Devices, *parms)
		}
	}
	return out, nil
}

func decodeParms(b []byte) (Params, error) {
	var p Params
	attrs, err := nlattr.Parse(b)
	if err != nil {
		return p, fmt.Errorf("NDTA_PARMS: %w", err)
	}
	ne := nl.NativeEndian()
	for _, a := range attrs {
		v := a.Value
		u32 := func(dst *int) error {
			if len(v) < 4 {
				return fmt.Errorf("NDTA_PARMS attribute %d: short u32", a.Type)
			}
			*dst = int(ne.Uint32(v))
			return nil
		}
		u64 := func(dst *int64) error {
			if len(v) < 8 {
				return fmt.Errorf("NDTA_PARMS attribute %d: short u64", a.Type)
			}
			*dst = int64(ne.Uint64(v))
			return nil
		}
		var err error
		switch a.Type {
		case ndtpaIfindex:
			err = u32(&p.Ifindex)
		case ndtpaRefcnt:
			err = u32(&p.Refcnt)
		case ndtpaReachableTime:
			err = u64(&p.ReachableTimeMS)
		case ndtpaBaseReachableTime:
			err = u64(&p.BaseReachableTimeMS)
		case ndtpaRetransTime:
			err = u64(&p.RetransTimeMS)
		case ndtpaGCStaletime:
			err = u64(&p.GCStaleTimeMS)
		case ndtpaDelayProbeTime:
			err = u64(&p.DelayFirstProbeTimeMS)
		case ndtpaAnycastDelay:
			err = u64(&p.AnycastDelayMS)
		case ndtpaProxyDelay:
			err = u64(&p.ProxyDelayMS)
		case ndtpaLocktime:
			err = u64(&p.LocktimeMS)
		case ndtpaIntervalProbeMS:
			err = u64(&p.IntervalProbeTimeMS)
		case ndtpaQueueLen:
			err = u32(&p.QueueLen)
		case ndtpaQueueLenbytes:
			err = u32(&p.QueueLenBytes)
		case ndtpaProxyQlen:
			err = u32(&p.ProxyQueueLen)
		case ndtpaAppProbes:
			err = u32(&p.AppProbes)
		case ndtpaUcastProbes:
			err = u32(&p.UcastProbes)
		case ndtpaMcastProbes:
			err = u32(&p.McastProbes)
		case ndtpaMcastReprobes:
			err = u32(&p.McastReprobes)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}
