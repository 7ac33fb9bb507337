package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/scenario"
	"github.com/netlabdev/netlab/topology"
)

type runFlags struct {
	out, suffix            string
	keep, reuse, allowHost bool
	repeat                 int
}

func (a *app) runCmd() *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run <lab>",
		Short: "Bring a lab up, run its scenario, report each step, tear it down",
		Long: `Run a lab's scenario: validate the file (exit 2 before anything is created),
bring the lab up (exit 3 when the environment cannot run it), run the steps in
order, print one line per step (PASS/FAIL/ERROR/SKIPPED, its duration, its
name), and tear the lab down (also on failure and on SIGINT) unless --keep.
A failing step stops the scenario; exit 1 when a step did not pass.

The neighbour tables of every node are watched for the whole run.
--out DIR writes report.json, junit.xml, timeline.jsonl, timeline.csv and
any captures there. --reuse runs against the lab if it is already up (and
leaves it up); otherwise the lab is brought up as by "netlab up".
--repeat N runs the lab N times from scratch (DIR/run-1, ... with --out) and
prints statistics of the recorded transitions: how long each entry stayed
REACHABLE (next to the kernel's window [base/2, 3*base/2)) and how long from
STALE to its deletion (min/median/p95/max); --out also gets stats.json.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, warns, err := a.load(args[0], topology.ValidateOptions{AllowHostSysctl: f.allowHost})
			a.printWarnings(warns)
			if err != nil {
				return err
			}
			if err := l.WithSuffix(f.suffix); err != nil {
				return err
			}
			switch {
			case f.repeat < 1:
				return &usageError{fmt.Errorf("--repeat %d: want at least 1", f.repeat)}
			case f.repeat > 1 && (f.keep || f.reuse):
				return &usageError{errors.New("--repeat runs the lab from scratch each time: it takes neither --keep nor --reuse")}
			case f.repeat > 1:
				return a.runRepeat(cmd.Context(), l, f)
			}
			rep, err := a.runOnce(cmd.Context(), l, f.out, f.keep, f.reuse)
			if rep != nil && a.output == "json" {
				err = errors.Join(err, a.json(rep))
			}
			if err != nil {
				return err
			}
			if !rep.Passed {
				return &exitError{exitFailed}
			}
			return nil
		},
	}
	c.Flags().StringVar(&f.out, "out", "", "write report.json, junit.xml, timeline.jsonl/csv and captures into this directory")
	c.Flags().BoolVar(&f.keep, "keep", false, "leave the lab up after the run")
	c.Flags().BoolVar(&f.reuse, "reuse", false, "run against the lab if it is already up (and leave it up)")
	c.Flags().IntVar(&f.repeat, "repeat", 1, "run the lab N times from scratch and print transition statistics")
	c.Flags().StringVar(&f.suffix, "suffix", os.Getenv("NETLAB_SUFFIX"), "name the lab <name>-<suffix> (env NETLAB_SUFFIX)")
	c.Flags().BoolVar(&f.allowHost, "allow-host-sysctl", false, "allow host.sysctls beyond net.ipv{4,6}.neigh.default.*")
	a.buildFlags(c)
	return c
}

// runOnce brings the lab up (unless reuse finds it up), runs its scenario
// and tears it down (unless keep, or it was reused), also when the run fails
// or ctx ends.
func (a *app) runOnce(ctx context.Context, l *topology.Lab, out string, keep, reuse bool) (rep *scenario.Report, err error) {
	o := a.opts()
	up := true
	if reuse {
		exists, err := lab.Exists(l.Name, o)
		if err != nil {
			return nil, err
		}
		up = !exists
	}
	runID := ""
	if up {
		uo, done, err := a.upOptions(l.Name)
		if err != nil {
			return nil, err
		}
		res, err := lab.Up(ctx, l, uo)
		done()
		if err != nil {
			return nil, err
		}
		runID = res.RunID
		for _, w := range res.Warnings {
			fmt.Fprintln(a.stderr, "warning: "+w)
		}
		fmt.Fprintf(a.stderr, "lab %s is up (run %s)\n", l.Name, res.RunID)
	} else {
		fmt.Fprintf(a.stderr, "lab %s is already up: reusing it\n", l.Name)
	}
	defer func() {
		if !up || keep {
			if up {
				fmt.Fprintf(a.stderr, "lab %s left up (--keep): netlab down %s\n", l.Name, l.Name)
			}
			return
		}
		// Tear down even when ctx was cancelled (SIGINT).
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, derr := lab.Down(dctx, l.Name, o); derr != nil {
			err = errors.Join(err, fmt.Errorf("down %s: %w", l.Name, derr))
		}
	}()
	rep, err = scenario.Run(ctx, l.Resolve(), scenario.Options{Out: out, Lab: o, RunID: runID, Logger: o.Logger,
		OnStep: func(s scenario.StepResult) {
			if a.output != "json" {
				a.printStep(s)
			}
		}})
	if err != nil {
		return rep, fmt.Errorf("lab %s: scenario: %w", l.Name, err)
	}
	if a.output != "json" {
		fmt.Fprintf(a.stdout, "%s: %d passed, %d failed, %d errors, %d skipped in %v\n", verdictWord(rep.Passed), rep.Tests-rep.Failures-rep.Errors-rep.Skipped, rep.Failures, rep.Errors, rep.Skipped, rep.Duration.Round(time.Millisecond))
	}
	if out != "" {
		fmt.Fprintf(a.stderr, "results in %s (report.json, junit.xml, timeline.jsonl, timeline.csv, timeline.svg; %d timeline records)\n", out, rep.TimelineRecords)
	}
	return rep, nil
}

// runRepeat runs the lab f.repeat times from scratch and prints the
// statistics of the recorded transitions.
func (a *app) runRepeat(ctx context.Context, l *topology.Lab, f runFlags) error {
	var reps []*scenario.Report
	failed := 0
	for i := 1; i <= f.repeat; i++ {
		if a.output != "json" {
			fmt.Fprintf(a.stdout, "run %d/%d\n", i, f.repeat)
		}
		out := ""
		if f.out != "" {
			out = filepath.Join(f.out, fmt.Sprintf("run-%d", i))
		}
		rep, err := a.runOnce(ctx, l, out, false, false)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
		if !rep.Passed {
			failed++
		}
		if ctx.Err() != nil {
			break
		}
	}
	sums := scenario.Summarize(reps)
	stats := map[string]any{"lab": l.Name, "runs": len(reps), "failed_runs": failed, "intervals": sums}
	if f.out != "" {
		b, err := json.MarshalIndent(stats, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.out, "stats.json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		for i, s := range sums {
			if err := scenario.PlotHistogram(filepath.Join(f.out, fmt.Sprintf("hist-%d-%s.svg", i+1, s.Interval)), s); err != nil {
				return err
			}
		}
	}
	if a.output == "json" {
		if err := a.json(stats); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "%d run(s), %d failed; transitions:\n", len(reps), failed)
		for _, s := range sums {
			fmt.Fprintln(a.stdout, "  "+s.String())
		}
	}
	if failed > 0 || ctx.Err() != nil {
		return &exitError{exitFailed}
	}
	return nil
}

func verdictWord(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// printStep prints one line per step; a step that did not pass gets its
// message and the entry's timeline, indented.
func (a *app) printStep(s scenario.StepResult) {
	line := fmt.Sprintf("%s  %.3fs  %s", s.Verdict, s.Duration.Seconds(), s.Name)
	if s.Verdict == scenario.Skipped {
		line = fmt.Sprintf("%s  -  %s", s.Verdict, s.Name)
	}
	fmt.Fprintln(a.stdout, line)
	if s.Verdict == scenario.Fail || s.Verdict == scenario.Error {
		fmt.Fprintln(a.stdout, "        "+strings.ReplaceAll(s.Message, "\n", "\n        "))
		if len(s.Timeline) > 0 {
			fmt.Fprintln(a.stdout, "        timeline of the entry:")
			for _, t := range s.Timeline {
				fmt.Fprintln(a.stdout, "          "+t)
			}
		}
		if s.Output != "" {
			fmt.Fprintln(a.stdout, "        output:\n          "+strings.ReplaceAll(strings.TrimRight(s.Output, "\n"), "\n", "\n          "))
		}
	}
}
