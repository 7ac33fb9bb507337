package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/lab"
)

// progressDelay is how long an up runs before a progress line appears: a
// lab that is up in a moment prints nothing extra.
const progressDelay = 300 * time.Millisecond

// progressEvery bounds how often the line is redrawn.
const progressEvery = 100 * time.Millisecond

// buildFlags adds the flags of commands that build labs (up, run).
func (a *app) buildFlags(c *cobra.Command) {
	c.Flags().BoolVarP(&a.quiet, "quiet", "q", false, "no progress display (it is shown only on a terminal, for labs that take more than a moment)")
	c.Flags().IntVar(&a.workers, "workers", 0, "how many nodes to work on at once (0: twice the CPUs)")
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressLine draws Up's progress on one terminal line of w, redrawn in
// place, and erases it when done.
type progressLine struct {
	w     io.Writer
	lab   string
	start time.Time
	now   func() time.Time

	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newProgressLine(w io.Writer, lab string) *progressLine {
	return &progressLine{w: w, lab: lab, start: time.Now(), now: time.Now}
}

// update is lab.Options.Progress.
func (p *progressLine) update(pr lab.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.start) < progressDelay || (p.drawn && now.Sub(p.last) < progressEvery && pr.Done < pr.Total) {
		return
	}
	p.last, p.drawn = now, true
	pct := 100
	if pr.Total > 0 {
		pct = 100 * pr.Done / pr.Total
	}
	fmt.Fprintf(p.w, "\r\033[Kup %s: %3d%% %d/%d operations (%s), %.1fs", p.lab, pct, pr.Done, pr.Total, pr.Stage, now.Sub(p.start).Seconds())
}

// finish erases the line, if one was drawn.
func (p *progressLine) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// upOptions are a.opts() for building lab name: workers, and a progress
// line on a terminal unless -q or -v (whose log lines would tear it). Call
// the returned func when Up returns.
func (a *app) upOptions(name string) (lab.Options, func(), error) {
	o := a.opts()
	if a.workers < 0 {
		return o, nil, &usageError{fmt.Errorf("--workers %d: want 0 (twice the CPUs) or more", a.workers)}
	}
	o.Workers = a.workers
	if a.quiet || a.verbose || !isTerminal(a.stderr) {
		return o, func() {}, nil
	}
	p := newProgressLine(a.stderr, name)
	o.Progress = p.update
	return o, p.finish, nil
}

// nameList prints names separated by spaces, shortened past 20 names (the
// full list is in -o json).
func nameList(names []string) string {
	const max = 20
	if len(names) <= max {
		return strings.Join(names, " ")
	}
	return fmt.Sprintf("%s ... (%d more; -o json lists all)", strings.Join(names[:10], " "), len(names)-10)
}
