package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// ErrInvalid marks options that can never work (a negative count, a TTL
// above 255, a source of the wrong family, ...): a usage error.
var ErrInvalid = errors.New("invalid probe options")

// ErrNoDevice means the namespace has no interface of the given name.
var ErrNoDevice = errors.New("no such device")

// Defaults for zero option values.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = time.Second
	// MinInterval is the shortest interval between probes.
	MinInterval = time.Millisecond
)

// Summary is a run's totals, the numbers iputils prints at the end.
type Summary struct {
	Transmitted int `json:"transmitted"`
	Received    int `json:"received"`
	Duplicates  int `json:"duplicates"`
	Errors      int `json:"errors"`
	// LossPercent is (transmitted - received) / transmitted * 100.
	LossPercent float64 `json:"loss_percent"`
	// Round-trip times of the first answer to each probe, in milliseconds;
	// zero when nothing was received. Mdev is iputils' "mdev", the
	// population standard deviation sqrt(mean(rtt²) - mean(rtt)²).
	RTTMinMS  float64 `json:"rtt_min_ms"`
	RTTAvgMS  float64 `json:"rtt_avg_ms"`
	RTTMaxMS  float64 `json:"rtt_max_ms"`
	RTTMdevMS float64 `json:"rtt_mdev_ms"`
	// TimeMS is how long the run took, from the first probe to the end.
	TimeMS int64 `json:"time_ms"`
}

// summarize computes a Summary from counts and the RTTs (ms) of the first
// answers.
func summarize(sent, received, dups, errs int, rtts []float64, elapsed time.Duration) Summary {
	s := Summary{Transmitted: sent, Received: received, Duplicates: dups, Errors: errs, TimeMS: elapsed.Milliseconds()}
	if sent > 0 {
		s.LossPercent = float64(sent-received) * 100 / float64(sent)
	}
	if len(rtts) == 0 {
		return s
	}
	var sum, sum2 float64
	s.RTTMinMS, s.RTTMaxMS = math.Inf(1), math.Inf(-1)
	for _, r := range rtts {
		sum += r
		sum2 += r * r
		s.RTTMinMS = min(s.RTTMinMS, r)
		s.RTTMaxMS = max(s.RTTMaxMS, r)
	}
	n := float64(len(rtts))
	s.RTTAvgMS = sum / n
	if v := sum2/n - s.RTTAvgMS*s.RTTAvgMS; v > 0 {
		s.RTTMdevMS = math.Sqrt(v)
	}
	return s
}

// schedule says when probes go out and when a run ends (see the package
// documentation for the semantics).
type schedule struct {
	Count    int
	Interval time.Duration
	Timeout  time.Duration
	Deadline time.Duration
	// announce: no answers are expected; Count probes go out, Deadline
	// only cuts the run short.
	announce bool
}

func (s schedule) withDefaults() schedule {
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	return s
}

func (s schedule) check() error {
	switch {
	case s.Count < 0:
		return fmt.Errorf("%w: count %d is negative", ErrInvalid, s.Count)
	case s.Interval != 0 && s.Interval < MinInterval:
		return fmt.Errorf("%w: interval %s: want at least %s", ErrInvalid, s.Interval, MinInterval)
	case s.Timeout < 0:
		return fmt.Errorf("%w: timeout %s is negative", ErrInvalid, s.Timeout)
	case s.Deadline < 0:
		return fmt.Errorf("%w: deadline %s is negative", ErrInvalid, s.Deadline)
	}
	return nil
}

// tally counts probes and their answers; only the run's own goroutine
// touches it.
type tally struct {
	start    time.Time
	sentAt   []time.Time
	done     []bool // answered or failed
	answered []bool
	pending  int // sent, neither answered nor failed
	received int
	dups     int
	errors   int
	rtts     []float64
}

func (t *tally) sent() int { return len(t.sentAt) }

// markSent records probe number t.sent() as sent at at and returns its index.
func (t *tally) markSent(at time.Time) int {
	if len(t.sentAt) == 0 {
		t.start = at
	}
	t.sentAt = append(t.sentAt, at)
	t.done = append(t.done, false)
	t.answered = append(t.answered, false)
	t.pending++
	return len(t.sentAt) - 1
}

func (t *tally) settle(i int) {
	if !t.done[i] {
		t.done[i] = true
		t.pending--
	}
}

// answer records an answer to probe i received at at; it returns the RTT in
// ms and whether this is a duplicate (probe i was answered before).
func (t *tally) answer(i int, at time.Time) (rttMS float64, dup bool) {
	rttMS = float64(at.Sub(t.sentAt[i]).Nanoseconds()) / 1e6
	if t.answered[i] {
		t.dups++
		return rttMS, true
	}
	t.settle(i)
	t.answered[i] = true
	t.received++
	t.rtts = append(t.rtts, rttMS)
	return rttMS, false
}

// fail records an error report (a local send error, an ICMP error) for
// probe i.
func (t *tally) fail(i int) {
	t.errors++
	t.settle(i)
}

func (t *tally) summary(end time.Time) Summary {
	var elapsed time.Duration
	if !t.start.IsZero() {
		elapsed = end.Sub(t.start)
	}
	return summarize(t.sent(), t.received, t.dups, t.errors, t.rtts, elapsed)
}

// run sends probes on the schedule (send(i) sends probe i and records it in
// t) and hands what the reader delivers to handle, until the schedule says
// the run is over. It returns ctx's error when ctx ended the run.
func run[T any](ctx context.Context, s schedule, t *tally, send func(i int), in <-chan T, handle func(T)) error {
	var deadline <-chan time.Time
	if s.Deadline > 0 {
		d := time.NewTimer(s.Deadline)
		defer d.Stop()
		deadline = d.C
	}
	next := time.NewTimer(0)
	defer next.Stop()
	var linger <-chan time.Time
	sending := true
	for {
		if s.Count > 0 && t.received >= s.Count {
			return nil
		}
		if !sending && (s.Deadline == 0 || s.announce) && t.pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return nil
		case <-linger:
			return nil
		case <-next.C:
			send(t.sent())
			if s.Count == 0 || t.sent() < s.Count || (s.Deadline > 0 && !s.announce) {
				next.Reset(s.Interval)
				continue
			}
			sending = false
			l := time.NewTimer(s.Timeout)
			defer l.Stop()
			linger = l.C
		case v := <-in:
			handle(v)
		}
	}
}

// session runs a schedule over one socket: a reader goroutine turns what
// read returns (ok=false: not ours, skip) into values for handle; when the
// run ends the socket is closed, which ends the reader, and the reader is
// joined. A read error before the end is returned.
func session[T any](ctx context.Context, s schedule, t *tally, sock io.Closer, read func() (T, bool, error), send func(i int), handle func(T)) error {
	in := make(chan T)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			v, ok, err := read()
			if err != nil {
				select {
				case <-stop: // the close below ended the read
				default:
					rerr = err
				}
				return
			}
			if !ok {
				continue
			}
			select {
			case in <- v:
			case <-stop:
				return
			}
		}
	}()
	err := run(ctx, s, t, send, in, handle)
	close(stop)
	cerr := sock.Close()
	wg.Wait()
	if rerr != nil {
		err = errors.Join(err, fmt.Errorf("read: %w", rerr))
	}
	if cerr != nil {
		err = errors.Join(err, fmt.Errorf("close: %w", cerr))
	}
	return err
}

// probeIndex maps a 16-bit wire sequence number (probe i carries
// uint16(i+1)) to the most recent probe that carried it, or -1.
func probeIndex(sent int, seq uint16) int {
	if sent == 0 {
		return -1
	}
	last := sent - 1
	i := last - int((uint16(last)-(seq-1))&0xffff)
	if i < 0 {
		return -1
	}
	return i
}
