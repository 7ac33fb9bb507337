package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/scenario"
	"github.com/netlabdev/netlab/topology"
)

func (a *app) runCmd() *cobra.Command {
	var out, suffix string
	var keep, reuse, allowHost bool
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
leaves it up); otherwise the lab is brought up as by "netlab up".`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			l, warns, err := a.load(args[0], topology.ValidateOptions{AllowHostSysctl: allowHost})
			a.printWarnings(warns)
			if err != nil {
				return err
			}
			if err := l.WithSuffix(suffix); err != nil {
				return err
			}
			ctx := cmd.Context()
			o := a.opts()
			up := true
			if reuse {
				exists, err := lab.Exists(l.Name, o)
				if err != nil {
					return err
				}
				up = !exists
			}
			runID := ""
			if up {
				res, err := lab.Up(ctx, l, o)
				if err != nil {
					return err
				}
				runID = res.RunID
				for _, w := range res.Warnings {
					fmt.Fprintln(a.stderr, "warning: "+w)
				}
				fmt.Fprintf(a.stderr, "lab %s is up (run %s)\n", l.Name, res.RunID)
			} else {
				fmt.Fprintf(a.stderr, "lab %s is already up: reusing it\n", l.Name)
			}
			var rep *scenario.Report
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
					if a.output == "json" {
						return
					}
					a.printStep(s)
				}})
			if rep != nil && a.output == "json" {
				if jerr := a.json(rep); jerr != nil {
					err = errors.Join(err, jerr)
				}
			}
			if err != nil {
				return fmt.Errorf("lab %s: scenario: %w", l.Name, err)
			}
			if a.output != "json" {
				fmt.Fprintf(a.stdout, "%s: %d passed, %d failed, %d errors, %d skipped in %v\n", verdictWord(rep.Passed), rep.Tests-rep.Failures-rep.Errors-rep.Skipped, rep.Failures, rep.Errors, rep.Skipped, rep.Duration.Round(time.Millisecond))
			}
			if out != "" {
				fmt.Fprintf(a.stderr, "results in %s (report.json, junit.xml, timeline.jsonl, timeline.csv; %d timeline records)\n", out, rep.TimelineRecords)
			}
			if !rep.Passed {
				return &exitError{exitFailed}
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "write report.json, junit.xml, timeline.jsonl/csv and captures into this directory")
	c.Flags().BoolVar(&keep, "keep", false, "leave the lab up after the run")
	c.Flags().BoolVar(&reuse, "reuse", false, "run against the lab if it is already up (and leave it up)")
	c.Flags().StringVar(&suffix, "suffix", os.Getenv("NETLAB_SUFFIX"), "name the lab <name>-<suffix> (env NETLAB_SUFFIX)")
	c.Flags().BoolVar(&allowHost, "allow-host-sysctl", false, "allow host.sysctls beyond net.ipv{4,6}.neigh.default.*")
	return c
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
