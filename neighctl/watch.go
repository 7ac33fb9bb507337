package neighctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Poll-interval limits and defaults for Watch.
const (
	DefaultInterval    = 20 * time.Millisecond
	DefaultMaxInterval = 200 * time.Millisecond
	// DefaultEmptyInterval is below the 3 s an unanswered resolution stays
	// INCOMPLETE with the kernel's defaults (mcast_solicit 3 x retrans_time
	// 1 s).
	DefaultEmptyInterval = 2 * time.Second
	MinInterval          = time.Millisecond
	MaxInterval          = 5 * time.Second
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Node labels the records.
	Node string
	// Interval is the poll interval while the namespace holds an entry in a
	// timer state (INCOMPLETE, REACHABLE, DELAY, PROBE). Default 20 ms.
	Interval time.Duration
	// MaxInterval is the slowest poll interval: while no entry is in a timer
	// state the interval doubles up to it. Default 200 ms. A STALE entry
	// changes only when a packet is sent (to DELAY, which the kernel does not
	// notify), so MaxInterval bounds how long a DELAY must last to be seen.
	MaxInterval time.Duration
	// EmptyInterval is the slowest poll interval while the table is empty
	// (the interval doubles up to it). An entry appears only as INCOMPLETE,
	// which the kernel does not notify and which ends with a notified
	// REACHABLE or FAILED (an unanswered one after mcast_solicit x
	// retrans_time, 3 s by default), or through a notified add; so polling
	// an empty table faster only dates an INCOMPLETE sooner. Default 2 s
	// (never below MaxInterval). An idle watch of a 200-node lab costs a
	// tenth of what it costs at MaxInterval.
	EmptyInterval time.Duration
	// Start is the instant record offsets are measured from; default: when
	// Watch begins. Watches of several namespaces share one Start.
	Start time.Time
	// RcvBuf sets the event socket's receive buffer in bytes (0: the
	// kernel's default). A tiny buffer provokes ENOBUFS (for tests).
	RcvBuf int
	// Multicast also records the kernel's entries for multicast addresses
	// (always NOARP; created silently when a device joins a group).
	Multicast bool
	// OnReady, if set, is called once the watch is subscribed and has
	// recorded the initial table: from then on no transition is missed. It
	// runs on the watch's goroutine.
	OnReady func()
}

func (o *WatchOptions) defaults() error {
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxInterval == 0 {
		o.MaxInterval = max(DefaultMaxInterval, o.Interval)
	}
	if o.EmptyInterval == 0 {
		o.EmptyInterval = max(DefaultEmptyInterval, o.MaxInterval)
	}
	if o.Interval < MinInterval || o.Interval > MaxInterval {
		return fmt.Errorf("poll interval %s: want %s..%s", o.Interval, MinInterval, MaxInterval)
	}
	if o.MaxInterval < o.Interval || o.MaxInterval > MaxInterval {
		return fmt.Errorf("max poll interval %s: want %s..%s", o.MaxInterval, o.Interval, MaxInterval)
	}
	if o.EmptyInterval < o.MaxInterval || o.EmptyInterval > MaxInterval {
		return fmt.Errorf("empty-table poll interval %s: want %s..%s", o.EmptyInterval, o.MaxInterval, MaxInterval)
	}
	return nil
}

// event is one message from the subscription socket.
type event struct {
	at      time.Time
	e       Entry
	deleted bool
	overrun bool // ENOBUFS: notifications were lost before at
	err     error
}

// Watch records this namespace's neighbour transitions until ctx is done
// and calls emit for every record, always from the calling goroutine and in
// order. It returns nil when ctx ended the watch, or the error that stopped
// it (the namespace vanished, say). It starts and joins its own goroutine
// and closes its socket before returning.
//
// What it promises: every state that lasts longer than the poll interval in
// force (Interval while a timer state is present, else up to MaxInterval)
// is recorded, notified or not; notified transitions are recorded whatever
// their duration; a state the kernel's state machine requires between two
// observed ones is recorded as inferred; a window in which notifications
// were lost (ENOBUFS) is recorded as a gap, followed by a reconciling dump.
func (c *Conn) Watch(ctx context.Context, o WatchOptions, emit func(Record)) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if o.Start.IsZero() {
		o.Start = c.now()
	}
	s, err := c.subscribe(unix.RTNLGRP_NEIGH)
	if err != nil {
		return fmt.Errorf("watch %s: %w", o.Node, err)
	}
	if o.RcvBuf > 0 {
		if err := s.SetReceiveBufferSize(o.RcvBuf, true); err != nil {
			s.Close()
			return fmt.Errorf("watch %s: receive buffer: %w", o.Node, err)
		}
	}
	evs := make(chan event, 256)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.readEvents(s, evs, stop)
	}()
	defer func() {
		close(stop)
		s.Close()
		wg.Wait()
	}()

	w := &watcher{c: c, o: o, ctx: ctx, evs: evs, names: map[int]string{}}
	w.t = NewTracker(o.Node, o.Start, emit)
	w.lastRecv = c.now()
	es, err := w.list()
	if err != nil {
		return fmt.Errorf("watch %s: %w", o.Node, err)
	}
	w.t.Initial(w.lastRecv, es)
	if o.OnReady != nil {
		o.OnReady()
	}
	return w.loop()
}

// readEvents reads the subscription socket until stop is closed (and the
// socket with it).
func (c *Conn) readEvents(s *nl.NetlinkSocket, evs chan<- event, stop <-chan struct{}) {
	send := func(v event) bool {
		select {
		case evs <- v:
			return true
		case <-stop:
			return false
		}
	}
	for {
		msgs, from, err := s.Receive()
		at := c.now()
		select {
		case <-stop:
			return
		default:
		}
		if errors.Is(err, unix.ENOBUFS) {
			if !send(event{at: at, overrun: true}) {
				return
			}
			continue
		}
		if err != nil {
			send(event{at: at, err: fmt.Errorf("receive neighbour events: %w", err)})
			return
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_NEWNEIGH && m.Header.Type != unix.RTM_DELNEIGH {
				continue
			}
			e, err := decodeNeigh(m.Data, at)
			if errors.Is(err, errNotIP) {
				continue
			}
			if err != nil {
				if !send(event{at: at, err: fmt.Errorf("neighbour event: %w", err)}) {
					return
				}
				continue
			}
			if !send(event{at: at, e: e, deleted: m.Header.Type == unix.RTM_DELNEIGH}) {
				return
			}
		}
	}
}

// watcher is the state of one Watch loop.
type watcher struct {
	c        *Conn
	o        WatchOptions
	ctx      context.Context
	evs      <-chan event
	t        *Tracker
	names    map[int]string
	interval time.Duration
	lastRecv time.Time // when the last event arrived (a gap starts there)
	overrun  bool      // an ENOBUFS awaits its reconciling dump
}

func (w *watcher) loop() error {
	w.interval = w.o.Interval
	timer := time.NewTimer(w.interval)
	defer timer.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return nil
		case v := <-w.evs:
			if err := w.event(v); err != nil {
				return err
			}
			if w.overrun {
				if err := w.poll(); err != nil {
					return err
				}
			}
			w.interval = w.o.Interval
			timer.Reset(w.interval)
		case <-timer.C:
			if err := w.poll(); err != nil {
				return err
			}
			switch {
			case w.t.TimerStates():
				w.interval = w.o.Interval
			case w.t.Empty():
				w.interval = min(2*w.interval, w.o.EmptyInterval)
			default:
				w.interval = min(2*w.interval, w.o.MaxInterval)
			}
			timer.Reset(w.interval)
		}
	}
}

func (w *watcher) event(v event) error {
	if v.err != nil {
		return fmt.Errorf("watch %s: %w", w.o.Node, v.err)
	}
	if v.overrun {
		w.overrun = true
		return nil
	}
	w.lastRecv = v.at
	if v.e.IP.IsMulticast() && !w.o.Multicast {
		return nil
	}
	v.e.Dev = w.name(v.e.Ifindex)
	w.t.Event(v.at, v.e, v.deleted)
	return nil
}

// poll dumps the table and applies it after the events that arrived before
// the dump began (in order), then the later ones. The dump is dated when it
// ended: it shows the table as of some instant during the read, so a change
// it reveals happened by then (dating it when the read began could put a
// change before it happened: a REACHABLE shorter than the kernel's draw).
// An event that arrived during the read comes after the dump: if the dump
// already showed its change, the event only confirms it.
func (w *watcher) poll() error {
	began := w.c.now()
	es, err := w.list()
	at := w.c.now()
	if err != nil {
		if w.ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch %s: %w", w.o.Node, err)
	}
	var later []event
	for drained := false; !drained; {
		select {
		case v := <-w.evs:
			if v.at.Before(began) {
				if err := w.event(v); err != nil {
					return err
				}
			} else {
				later = append(later, v)
			}
		default:
			drained = true
		}
	}
	if w.overrun {
		w.t.Gap(w.lastRecv, at, "event socket overrun (ENOBUFS): notifications were lost; reconciled with a table dump")
		w.overrun = false
	}
	w.t.Poll(at, es)
	for _, v := range later {
		if err := w.event(v); err != nil {
			return err
		}
	}
	return nil
}

// list dumps the table, naming devices from a cache refreshed on a miss.
func (w *watcher) list() ([]Entry, error) {
	es, err := w.c.dumpNeigh(&ndmsg{}, w.name)
	if err != nil || w.o.Multicast {
		return es, err
	}
	return slices.DeleteFunc(es, func(e Entry) bool { return e.IP.IsMulticast() }), nil
}

func (w *watcher) name(idx int) string {
	if n, ok := w.names[idx]; ok {
		return n
	}
	if names, err := w.c.linkNames(); err == nil {
		w.names = names
	}
	if n, ok := w.names[idx]; ok {
		return n
	}
	return fmt.Sprintf("if%d", idx)
}

// Target is one namespace for WatchMany.
type Target struct {
	Node string
	Conn *Conn
}

// WatchMany watches several namespaces at once with one start time, so the
// records' offsets are comparable. o.OnReady is called once every watch is
// ready. emit is called from the calling
// goroutine only. The first watch to fail stops the others; WatchMany joins
// every goroutine it started before returning.
func WatchMany(ctx context.Context, targets []Target, o WatchOptions, emit func(Record)) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pending atomic.Int32
	pending.Store(int32(len(targets)))
	ready := o.OnReady
	recs := make(chan Record, 256)
	errs := make(chan error, len(targets))
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := o
			to.Node = t.Node
			to.OnReady = func() {
				if pending.Add(-1) == 0 && ready != nil {
					ready()
				}
			}
			err := t.Conn.Watch(ctx, to, func(r Record) {
				select {
				case recs <- r:
				case <-ctx.Done():
				}
			})
			if err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	go func() {
		wg.Wait()
		close(recs)
	}()
	for r := range recs {
		emit(r)
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
