package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/capture"
	"github.com/netlabdev/netlab/lab"
)

const captureUsage = "usage: netlab capture <lab> <node> <dev> -w FILE [-c N] [--duration D] [--bytes N] [--snaplen N] [--promisc] [--until-interrupted]"

// captureFlags are the flags of `netlab capture`.
type captureFlags struct {
	write            string
	count            int
	duration         time.Duration
	bytes            int64
	snaplen          int
	promisc          bool
	untilInterrupted bool
}

// captureResult is the summary printed by -o json.
type captureResult struct {
	Lab  string `json:"lab"`
	Node string `json:"node"`
	Dev  string `json:"dev"`
	File string `json:"file"`
	capture.Stats
	ElapsedMS int64 `json:"elapsed_ms"`
}

func (a *app) captureCmd() *cobra.Command {
	f := &captureFlags{}
	cmd := &cobra.Command{
		Use:   "capture <lab> <node> <dev> -w FILE [-c N] [--duration D] [--bytes N]",
		Short: "Capture the packets crossing a node's interface into a pcap file",
		Long: `Capture the packets crossing one interface of a running lab's node, both
directions, into a pcap file that tcpdump, tshark and Wireshark read
(nanosecond timestamps from the kernel, link type Ethernet). netlab opens a
packet socket in the node's namespace itself: no tcpdump needed.

A capture never runs forever unless asked: give at least one bound,
-c N packets, --duration D, --bytes N (of packet data; a packet that would
go beyond it ends the capture unwritten), or --until-interrupted (a bound
of 0, like -c 0, asks for no bound too). It also ends when interrupted
(SIGINT, SIGTERM) or when the lab goes down.

"capturing on NODE DEV: ready" on stderr says the socket is bound: from then
on every packet is captured (scripts wait for this line). The summary
"N packets, B bytes captured, D dropped by the kernel" follows on stderr
(with -o json, as JSON on stdout). -w - writes the pcap to stdout:
  netlab capture LAB h1 eth0 -w - -c 10 | tcpdump -nn -r -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 3 {
				return &usageError{errors.New(captureUsage)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.capture(cmd.Context(), cmd, args[0], args[1], args[2], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.write, "write", "w", "", "write the pcap to FILE (- for stdout)")
	fl.IntVarP(&f.count, "count", "c", 0, "stop after N packets")
	fl.DurationVar(&f.duration, "duration", 0, "stop after D (from when the socket is bound)")
	fl.Int64Var(&f.bytes, "bytes", 0, "stop before the captured packet data would exceed N bytes")
	fl.IntVar(&f.snaplen, "snaplen", capture.DefaultSnaplen, "bytes kept of each packet")
	fl.BoolVar(&f.promisc, "promisc", false, "put the interface in promiscuous mode while capturing")
	fl.BoolVar(&f.untilInterrupted, "until-interrupted", false, "no bound: capture until interrupted or the lab goes down")
	return cmd
}

// captureOptions checks the flags and turns them into capture options.
func captureOptions(cmd *cobra.Command, f *captureFlags, output string) (capture.Options, error) {
	o := capture.Options{Count: f.count, Duration: f.duration, Bytes: f.bytes, Snaplen: f.snaplen, Promisc: f.promisc}
	asked := cmd.Flags().Changed("count") || cmd.Flags().Changed("duration") || cmd.Flags().Changed("bytes")
	bounded := f.count != 0 || f.duration != 0 || f.bytes != 0
	switch {
	case f.write == "":
		return o, errors.New("capture needs -w FILE (- for stdout)\n" + captureUsage)
	case f.write == "-" && output == "json":
		return o, errors.New("-w - writes the pcap to stdout: it cannot carry -o json too")
	case cmd.Flags().Changed("snaplen") && f.snaplen == 0:
		return o, fmt.Errorf("--snaplen 0: want 1..%d", capture.DefaultSnaplen)
	case bounded && f.untilInterrupted:
		return o, errors.New("--until-interrupted contradicts -c/--duration/--bytes")
	case !asked && !f.untilInterrupted:
		return o, errors.New("capture needs a bound: -c N, --duration D or --bytes N (or --until-interrupted)")
	}
	if err := o.Check(); err != nil {
		for _, name := range []string{"count", "duration", "bytes", "snaplen"} {
			if strings.HasPrefix(err.Error(), name+" ") {
				return o, errors.New("--" + err.Error())
			}
		}
		return o, err
	}
	return o, nil
}

func (a *app) capture(ctx context.Context, cmd *cobra.Command, labName, node, dev string, f *captureFlags) error {
	o, err := captureOptions(cmd, f, a.output)
	if err != nil {
		return &usageError{err}
	}
	ns, err := lab.OpenNode(labName, node, a.opts())
	if err != nil {
		return err
	}
	defer ns.Close()

	var out io.Writer = a.stdout
	file := &lazyFile{path: f.write}
	if f.write != "-" {
		out = file
	}
	var start time.Time
	o.OnReady = func() {
		start = time.Now()
		fmt.Fprintf(a.stderr, "capturing on %s %s: ready (%s)\n", node, dev, captureBounds(f))
	}
	ctx, wentDown, stop := stopWhenDown(ctx, labName, a.opts())
	st, err := capture.Run(ctx, ns, dev, out, o)
	stop()
	// `netlab down` deletes the interface (with its peer's namespace)
	// before it removes the lab's state: a capture that lost its interface
	// waits a moment to tell the lab's end from a failure.
	if gone := errors.Is(err, unix.ENETDOWN); wentDown() || gone && labGoes(labName, a.opts(), 3*time.Second) {
		fmt.Fprintf(a.stderr, "lab %s went down: capture stopped\n", labName)
		if gone {
			err = nil
		}
	}
	if cerr := file.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s: %w", f.write, cerr))
	}
	if errors.Is(err, capture.ErrNoDevice) {
		return &usageError{fmt.Errorf("node %s: %w", node, err)}
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	fmt.Fprintf(a.stderr, "%d packets, %d bytes captured, %d dropped by the kernel\n", st.Packets, st.Bytes, st.Dropped)
	if a.output == "json" {
		return a.json(captureResult{Lab: labName, Node: node, Dev: dev, File: f.write, Stats: st, ElapsedMS: time.Since(start).Milliseconds()})
	}
	return nil
}

// captureBounds says when a capture stops, for the ready line.
func captureBounds(f *captureFlags) string {
	var b []string
	if f.count > 0 {
		b = append(b, fmt.Sprintf("%d packets", f.count))
	}
	if f.duration > 0 {
		b = append(b, f.duration.String())
	}
	if f.bytes > 0 {
		b = append(b, fmt.Sprintf("%d bytes", f.bytes))
	}
	if len(b) == 0 {
		return "until interrupted"
	}
	return "until " + strings.Join(b, " or ")
}

// stopWhenDown returns a context that is also cancelled when the lab's
// state is gone (`netlab down`): a socket in a node's namespace keeps that
// namespace alive, so whatever holds one must not outlive the lab. wentDown
// reports whether that happened; stop ends the watch and joins it.
func stopWhenDown(ctx context.Context, labName string, opts lab.Options) (_ context.Context, wentDown func() bool, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var down atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if up, err := lab.Exists(labName, opts); err == nil && !up {
					down.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	return ctx, down.Load, func() {
		cancel()
		wg.Wait()
	}
}

// labGoes reports whether the lab's state is gone within d.
func labGoes(labName string, opts lab.Options, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if up, err := lab.Exists(labName, opts); err == nil && !up {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// lazyFile creates its file at the first write, so a capture that cannot
// start (no such node or interface) leaves an existing file alone.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

// Close closes the file if it was created.
func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
