package probe

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeSock is a socket whose reads return what answer() queues, and fail
// once it is closed.
type fakeSock struct {
	q      chan int
	closed chan struct{}
	once   sync.Once
}

func newFakeSock() *fakeSock { return &fakeSock{q: make(chan int, 100), closed: make(chan struct{})} }

func (f *fakeSock) Close() error { f.once.Do(func() { close(f.closed) }); return nil }

func (f *fakeSock) read() (int, bool, error) {
	select {
	case i := <-f.q:
		return i, true, nil
	case <-f.closed:
		return 0, false, errors.New("closed")
	}
}

// runFake runs a session whose probes are answered when answer(i) says so.
func runFake(ctx context.Context, s schedule, answer func(i int) bool) (*tally, time.Duration, error) {
	f := newFakeSock()
	t := &tally{}
	start := time.Now()
	err := session(ctx, s.withDefaults(), t, f, f.read, func(i int) {
		t.markSent(time.Now())
		if s.announce {
			t.settle(i)
		}
		if answer(i) {
			f.q <- i
		}
	}, func(i int) { t.answer(i, time.Now()) })
	return t, time.Since(start), err
}

func TestSchedule(t *testing.T) {
	all := func(int) bool { return true }
	none := func(int) bool { return false }
	ms := time.Millisecond
	for _, c := range []struct {
		name           string
		s              schedule
		answer         func(int) bool
		sent, received int
		min, max       time.Duration
	}{
		// All answered: the run ends with the last answer, not the timeout.
		{"count answered", schedule{Count: 3, Interval: 20 * ms, Timeout: time.Second}, all, 3, 3, 40 * ms, 400 * ms},
		// Nothing answered: count requests, then the timeout.
		{"count unanswered", schedule{Count: 3, Interval: 20 * ms, Timeout: 100 * ms}, none, 3, 0, 140 * ms, 500 * ms},
		// One lost: wait for it until the timeout.
		{"count one lost", schedule{Count: 3, Interval: 20 * ms, Timeout: 100 * ms}, func(i int) bool { return i != 0 }, 3, 2, 140 * ms, 500 * ms},
		// With a deadline, probes keep going until count answers arrived...
		{"deadline answered", schedule{Count: 2, Interval: 20 * ms, Deadline: time.Second}, all, 2, 2, 20 * ms, 400 * ms},
		{"deadline late answers", schedule{Count: 2, Interval: 20 * ms, Deadline: time.Second}, func(i int) bool { return i >= 3 }, 5, 2, 80 * ms, 500 * ms},
		// ... or the deadline passed.
		{"deadline unanswered", schedule{Count: 2, Interval: 20 * ms, Deadline: 150 * ms}, none, 8, 0, 150 * ms, 500 * ms},
		{"count 0 deadline", schedule{Interval: 20 * ms, Deadline: 150 * ms}, all, 8, 8, 150 * ms, 500 * ms},
		// Announcements expect nothing: count probes, then stop at once.
		{"announce", schedule{Count: 3, Interval: 20 * ms, Timeout: time.Second, Deadline: time.Second, announce: true}, none, 3, 0, 40 * ms, 400 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl, took, err := runFake(context.Background(), c.s, c.answer)
			if err != nil {
				t.Fatal(err)
			}
			// Timers on a busy machine: the sent count may miss by one.
			if d := tl.sent() - c.sent; d < -1 || d > 1 || (c.s.Deadline == 0 || c.s.announce) && d != 0 {
				t.Errorf("sent %d, want %d", tl.sent(), c.sent)
			}
			// With count 0 every probe is answered, but the deadline can
			// end the run between the last probe and its answer.
			if tl.received != c.received && !(c.s.Count == 0 && tl.sent()-tl.received <= 1) {
				t.Errorf("received %d, want %d", tl.received, c.received)
			}
			if took < c.min || took > c.max {
				t.Errorf("took %s, want [%s, %s]", took, c.min, c.max)
			}
		})
	}
}

func TestScheduleContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	tl, _, err := runFake(ctx, schedule{Interval: 10 * time.Millisecond}, func(int) bool { return true })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
	if tl.sent() < 3 || tl.received != tl.sent() {
		t.Errorf("sent %d received %d", tl.sent(), tl.received)
	}
}

func TestScheduleCheck(t *testing.T) {
	for _, s := range []schedule{{Count: -1}, {Interval: time.Microsecond}, {Timeout: -1}, {Deadline: -1}} {
		if err := s.check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err = %v", s, err)
		}
	}
	if err := (schedule{}).check(); err != nil {
		t.Error(err)
	}
}

// TestTallyDuplicates: a second answer to a probe is a duplicate, an
// error report settles a probe without answering it.
func TestTallyDuplicates(t *testing.T) {
	var tl tally
	t0 := time.Unix(100, 0)
	tl.markSent(t0)
	tl.markSent(t0.Add(time.Second))
	if rtt, dup := tl.answer(0, t0.Add(1500*time.Microsecond)); rtt != 1.5 || dup {
		t.Errorf("first answer: %v %v", rtt, dup)
	}
	if _, dup := tl.answer(0, t0.Add(2*time.Millisecond)); !dup {
		t.Error("second answer is not a duplicate")
	}
	tl.fail(1)
	if tl.pending != 0 || tl.errors != 1 || tl.received != 1 || tl.dups != 1 {
		t.Errorf("tally %+v", tl)
	}
	s := tl.summary(t0.Add(3 * time.Second))
	if s.Transmitted != 2 || s.Received != 1 || s.LossPercent != 50 || s.TimeMS != 3000 || s.RTTAvgMS != 1.5 {
		t.Errorf("summary %+v", s)
	}
}

func TestOptionChecks(t *testing.T) {
	for name, o := range map[string]PingOptions{
		"count":    {Count: -1},
		"interval": {Interval: 10 * time.Microsecond},
		"size":     {Size: maxSize6 + 1},
		"size -2":  {Size: -2},
		"ttl":      {TTL: 256},
		"ttl -1":   {TTL: -1},
	} {
		if err := o.Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("ping %s: err = %v", name, err)
		}
	}
	for name, o := range map[string]ArpingOptions{
		"no interface": {},
		"mode":         {Interface: "eth0", Mode: 7},
		"lladdr":       {Interface: "eth0", LLAddr: mac1[:4]},
		"deadline":     {Interface: "eth0", Deadline: -time.Second},
	} {
		if err := o.Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("arping %s: err = %v", name, err)
		}
	}
	for name, o := range map[string]TCPOptions{
		"no addr":     {Bytes: 1},
		"no amount":   {Addr: v4a},
		"port":        {Addr: v4a, Bytes: 1, Port: 70000},
		"family":      {Addr: v4a, Bytes: 1, Source: v6a},
		"negative":    {Addr: v4a, Bytes: -1},
		"unspecified": {Addr: netipUnspecified(), Bytes: 1},
	} {
		if err := o.Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("tcp %s: err = %v", name, err)
		}
	}
	// Ping refuses what only the destination shows, before any namespace
	// is touched (ns is not even valid here).
	for name, c := range map[string]struct {
		dst string
		o   PingOptions
	}{
		"family":  {"192.0.2.2", PingOptions{Source: v6a}},
		"size v4": {"192.0.2.2", PingOptions{Size: maxSize4 + 1}},
		"zone":    {"fe80::1%eth0", PingOptions{Interface: "eth1"}},
		"unspec":  {"::", PingOptions{}},
	} {
		if _, err := Ping(context.Background(), -1, mustAddr(c.dst), c.o); !errors.Is(err, ErrInvalid) {
			t.Errorf("ping %s: err = %v", name, err)
		}
	}
	for name, c := range map[string]struct {
		dst string
		o   ArpingOptions
	}{
		"multicast":    {"ff02::1", ArpingOptions{Interface: "eth0"}},
		"family":       {"192.0.2.2", ArpingOptions{Interface: "eth0", Source: v6a}},
		"garp sender":  {"192.0.2.50", ArpingOptions{Interface: "eth0", Mode: ModeGratuitous, Source: v4a}},
		"reply sender": {"192.0.2.50", ArpingOptions{Interface: "eth0", Mode: ModeReply, Source: v4a}},
	} {
		if _, err := Arping(context.Background(), -1, mustAddr(c.dst), c.o); !errors.Is(err, ErrInvalid) {
			t.Errorf("arping %s: err = %v", name, err)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func netipUnspecified() netip.Addr { return netip.IPv4Unspecified() }
