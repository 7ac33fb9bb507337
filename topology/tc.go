package topology

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Traffic-control defaults and bounds.
const (
	// DefaultShapeLatency is how long a packet may wait in a shaped link's
	// queue when shape.latency is not given (tc tbf's latency: the queue
	// holds rate x latency + burst bytes).
	DefaultShapeLatency = 50 * time.Millisecond
	// EthHeader is the Ethernet header a frame adds to the MTU.
	EthHeader = 14
	// MaxImpairDelay bounds impair.delay + jitter (netem counts them in
	// 32-bit psched ticks).
	MaxImpairDelay = time.Minute
)

var (
	rateRE = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$`)
	sizeRE = regexp.MustCompile(`^([0-9]+)(b|k|kb|m|mb|kbit|mbit)?$`)
	lossRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?%$`)
)

// rateUnits and sizeUnits are tc's (iproute2 tc_util.c get_rate / get_size):
// rates in bits per second with SI prefixes (bps = bytes per second), sizes
// in bytes with binary prefixes (kbit = 1024 bits).
var (
	rateUnits = map[string]float64{"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
		"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12}
	sizeUnits = map[string]uint64{"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1 << 20, "mb": 1 << 20,
		"kbit": 1024 / 8, "mbit": (1 << 20) / 8}
)

// ParseRate reads a tc rate (10mbit, 500kbit, 1.5gbit, 125kbps) as bits per
// second. A rate below one byte per second is refused.
func ParseRate(s string) (uint64, error) {
	m := rateRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("rate %q: want e.g. 10mbit, 500kbit", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	bits := v * rateUnits[m[3]]
	if bits < 8 || bits > math.MaxUint64/2 {
		return 0, fmt.Errorf("rate %q: out of range (at least 8bit)", s)
	}
	return uint64(bits), nil
}

// ParseSize reads a tc size (32kb, 1500, 1500b, 1mb, 64kbit) as bytes.
func ParseSize(s string) (uint32, error) {
	m := sizeRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("size %q: want e.g. 32kb", s)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err == nil && n > math.MaxUint32/sizeUnits[m[2]] {
		err = fmt.Errorf("too large")
	}
	if err != nil || n == 0 {
		return 0, fmt.Errorf("size %q: want 1 byte to 4 GiB", s)
	}
	return uint32(n * sizeUnits[m[2]]), nil
}

// TBF is a link's shape in kernel terms, defaults resolved.
type TBF struct {
	// Rate is in bits per second, Burst in bytes.
	Rate    uint64
	Burst   uint32
	Latency time.Duration
	// Limit is the queue in bytes: rate x latency + burst (as tc computes it).
	Limit uint32
	// BurstDefault and LatencyDefault mark values netlab chose.
	BurstDefault, LatencyDefault bool
}

// TBF resolves the shape for a link whose largest end MTU is mtu (0 means
// 1500). Without burst, netlab takes 10 ms worth of the rate, at least two
// full frames; without latency, DefaultShapeLatency. A burst smaller than
// one full frame is refused: tbf drops every packet larger than its bucket.
func (s *Shape) TBF(mtu int) (TBF, error) {
	t, errs := s.tbf(mtu)
	return t, joinKeyErrs(errs)
}

// keyErr is a problem with one key of a link's shape or impair.
type keyErr struct {
	key string
	err error
}

func joinKeyErrs(errs []keyErr) error {
	var out []error
	for _, e := range errs {
		out = append(out, fmt.Errorf("%s: %w", e.key, e.err))
	}
	return errors.Join(out...)
}

func (s *Shape) tbf(mtu int) (TBF, []keyErr) {
	var errs []keyErr
	var t TBF
	var err error
	if t.Rate, err = ParseRate(s.Rate); err != nil {
		errs = append(errs, keyErr{"rate", err})
	}
	if mtu == 0 {
		mtu = 1500
	}
	frame := uint64(mtu + EthHeader)
	if s.Burst == "" {
		t.BurstDefault = true
		t.Burst = uint32(min(max(t.Rate/8/100, 2*frame), math.MaxUint32))
	} else if t.Burst, err = ParseSize(s.Burst); err != nil {
		errs = append(errs, keyErr{"burst", fmt.Errorf("burst %q: want e.g. 32kb (1 byte to 4 GiB)", s.Burst)})
	} else if uint64(t.Burst) < frame {
		errs = append(errs, keyErr{"burst", fmt.Errorf("burst %s (%d bytes) is smaller than one full frame (mtu %d + %d-byte header): tbf would drop every full-size packet", s.Burst, t.Burst, mtu, EthHeader)})
	}
	t.Latency = DefaultShapeLatency
	if s.Latency != nil {
		t.Latency = s.Latency.Duration
	} else {
		t.LatencyDefault = true
	}
	if t.Rate == 0 || t.Burst == 0 {
		return t, errs
	}
	limit := float64(t.Rate)/8*t.Latency.Seconds() + float64(t.Burst)
	if limit > math.MaxUint32 {
		errs = append(errs, keyErr{"latency", fmt.Errorf("rate x latency + burst is %.0f bytes; tbf's queue holds at most 4 GiB", limit)})
	} else {
		t.Limit = uint32(limit)
	}
	if secs := float64(t.Burst) * 8 / float64(t.Rate); secs > 60 {
		errs = append(errs, keyErr{"burst", fmt.Errorf("burst %d bytes lasts %.0fs at rate %s; at most 60s", t.Burst, secs, s.Rate)})
	}
	return t, errs
}

// Netem is a link's impairment in kernel terms.
type Netem struct {
	Delay, Jitter time.Duration
	// Loss is a percentage (0-100).
	Loss float64
}

// Netem resolves the impairment.
func (m *Impair) Netem() (Netem, error) {
	out, errs := m.netem()
	return out, joinKeyErrs(errs)
}

func (m *Impair) netem() (Netem, []keyErr) {
	var out Netem
	var errs []keyErr
	if m.Delay != nil {
		out.Delay = m.Delay.Duration
	}
	if m.Jitter != nil {
		out.Jitter = m.Jitter.Duration
	}
	if m.Jitter != nil && m.Delay == nil {
		errs = append(errs, keyErr{"jitter", fmt.Errorf("jitter needs delay")})
	}
	if out.Delay+out.Jitter > MaxImpairDelay {
		errs = append(errs, keyErr{"delay", fmt.Errorf("delay + jitter is %v; at most %v", out.Delay+out.Jitter, MaxImpairDelay)})
	}
	if m.Loss != "" {
		v, err := strconv.ParseFloat(strings.TrimSuffix(m.Loss, "%"), 64)
		if !lossRE.MatchString(m.Loss) || err != nil || v > 100 {
			errs = append(errs, keyErr{"loss", fmt.Errorf("loss %q: want a percentage such as 1%%", m.Loss)})
		}
		out.Loss = v
	}
	return out, errs
}

// TCTime prints a duration the way tc reads it (s, ms or us).
func TCTime(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return fmt.Sprintf("%dus", d/time.Microsecond)
}

// LinkMTU is the largest MTU of a resolved link's two ends (0: the
// kernel's default for a veth).
func (t *Topo) LinkMTU(l *RLink) int {
	m := 0
	for _, ep := range []Endpoint{l.A, l.B} {
		if n := t.Node(ep.Node); n != nil {
			if i := n.Iface(ep.Iface); i != nil {
				m = max(m, i.MTU)
			}
		}
	}
	return m
}

func (v *validator) trafficControlPass(p string, ln *Link, rl *RLink) {
	if ln.Shape != nil && ln.Impair != nil {
		v.errf(p, "shape (tbf) and impair (netem) on one link are not supported together")
	}
	report := func(key string, errs []keyErr) {
		for _, e := range errs {
			v.errf(p+key+"."+e.key, "%v", e.err)
		}
	}
	if s := ln.Shape; s != nil {
		mtu := 0
		if rl != nil {
			mtu = (&Topo{byName: v.nodes}).LinkMTU(rl)
		}
		_, errs := s.tbf(mtu)
		report(".shape", errs)
	}
	if m := ln.Impair; m != nil {
		_, errs := m.netem()
		report(".impair", errs)
	}
}
