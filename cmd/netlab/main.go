package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/topology"
)

// Exit codes (DESIGN.md "CLI conventions").
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
	exitEnv     = 3
)

// exitError carries an explicit exit code (e.g. a command run by exec).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError marks bad arguments or flags.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

type app struct {
	stdout, stderr io.Writer
	output         string
	stateDir       string
	verbose        bool
	// quiet and workers are the flags of commands that build labs.
	quiet   bool
	workers int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "netlab: "+strings.ReplaceAll(err.Error(), "\n", "\n  "))
	return exitCode(err)
}

func exitCode(err error) int {
	var te *topology.Error
	var ue *usageError
	switch {
	case errors.As(err, &te), errors.As(err, &ue), errors.Is(err, lab.ErrUnknownNode), errors.Is(err, topology.ErrBadName):
		return exitInvalid
	case strings.HasPrefix(err.Error(), "unknown command "):
		return exitInvalid // cobra's own usage error (flag errors are wrapped by SetFlagErrorFunc)
	case lab.IsEnv(err):
		return exitEnv
	}
	return exitFailed
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "netlab",
		Short: "Build Linux network labs from namespaces through netlink, and tear them down",
		Long: `netlab builds Linux network labs out of network namespaces through netlink:
a YAML lab file declares nodes, veth links, bridges, addresses, sysctls,
static neighbours, routes and policy-routing rules; "netlab up" creates
them, "netlab down" removes exactly what was made, "netlab route" shows a
node's routes and asks its kernel which path a packet takes.

Exit codes: 0 ok, 1 a check or operation failed, 2 usage or invalid input,
3 the environment cannot run it (privileges, kernel features, lab already up).

(Not ipspace/netlab, an unrelated Python tool with the same command name.)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch a.output {
			case "text", "json", "jsonl":
			default:
				return &usageError{fmt.Errorf("--output %q: want text, json, or jsonl (streams)", a.output)}
			}
			if a.output == "jsonl" && cmd.Name() != "neigh" {
				return &usageError{fmt.Errorf("-o jsonl is for streams (neigh watch); %s takes text or json", cmd.Name())}
			}
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "text", "output format: text, json, or jsonl (streams: neigh watch); graph: dot, mermaid, svg")
	root.PersistentFlags().StringVar(&a.stateDir, "state-dir", envOr("NETLAB_STATE_DIR", "/run/netlab"), "runtime state directory (env NETLAB_STATE_DIR)")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log each operation to stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(a.validateCmd(), a.upCmd(), a.downCmd(), a.statusCmd(), a.execCmd(), a.neighCmd(), a.routeCmd())
	root.AddCommand(a.captureCmd())
	root.AddCommand(a.cleanupCmd())
	root.AddCommand(a.pingCmd(), a.arpingCmd())
	root.AddCommand(a.runCmd())
	root.AddCommand(a.schemaCmd())
	a.addTools(root) // keep last: it adds completion to the commands above
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (a *app) opts() lab.Options {
	o := lab.Options{StateDir: a.stateDir}
	if a.verbose {
		o.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

func (a *app) json(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// findLab resolves a lab argument: a file path, or NAME for NAME.yaml in
// NETLAB_PATH (colon-separated directories), then ./labs.
func findLab(arg string) (string, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return arg, nil
	}
	if strings.ContainsAny(arg, "/") || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		return "", &usageError{fmt.Errorf("lab file %s: no such file", arg)}
	}
	dirs := labSearchDirs()
	for _, d := range dirs {
		for _, ext := range []string{".yaml", ".yml"} {
			f := filepath.Join(d, arg+ext)
			if _, err := os.Stat(f); err == nil {
				return f, nil
			}
		}
	}
	return "", &usageError{fmt.Errorf("no lab %q: not a file, and no %s.yaml in NETLAB_PATH or ./labs (searched: %s)", arg, arg, strings.Join(dirs, ", "))}
}

func (a *app) load(arg string, vopts topology.ValidateOptions) (*topology.Lab, []*topology.Problem, error) {
	file, err := findLab(arg)
	if err != nil {
		return nil, nil, err
	}
	return topology.Load(file, vopts)
}

func (a *app) printWarnings(ws []*topology.Problem) {
	for _, w := range ws {
		fmt.Fprintln(a.stderr, "warning: "+w.String())
	}
}

type problemsJSON struct {
	Lab      string              `json:"lab,omitempty"`
	File     string              `json:"file"`
	Valid    bool                `json:"valid"`
	Nodes    int                 `json:"nodes"`
	Links    int                 `json:"links"`
	Problems []*topology.Problem `json:"problems"`
	Warnings []*topology.Problem `json:"warnings"`
}

func (a *app) validateCmd() *cobra.Command {
	var allowHost bool
	c := &cobra.Command{
		Use:   "validate <lab>",
		Short: "Check a lab file without touching the kernel (no root needed)",
		Long: `Parse and validate a lab file: every problem is reported at once, each with
file:line:col and the path of the object (nodes.h1.interfaces.eth0.addresses[1]).
<lab> is a file path, or NAME for labs/NAME.yaml (also searched in NETLAB_PATH).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, warns, err := a.load(args[0], topology.ValidateOptions{AllowHostSysctl: allowHost})
			var te *topology.Error
			if a.output == "json" && (err == nil || errors.As(err, &te)) {
				out := problemsJSON{File: args[0], Valid: err == nil, Problems: []*topology.Problem{}, Warnings: warns}
				if out.Warnings == nil {
					out.Warnings = []*topology.Problem{}
				}
				if te != nil {
					out.Problems = te.Problems
				}
				if l != nil {
					out.Lab, out.File, out.Nodes, out.Links = l.Name, l.File, len(l.Nodes), len(l.Links)
				}
				if jerr := a.json(out); jerr != nil {
					return jerr
				}
				if err != nil {
					return &exitError{exitInvalid}
				}
				return nil
			}
			a.printWarnings(warns)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: lab %s is valid (%d nodes, %d links, %d scenario steps)\n", l.File, l.Name, len(l.Nodes), len(l.Links), len(l.Scenario))
			return nil
		},
	}
	c.Flags().BoolVar(&allowHost, "allow-host-sysctl", false, "allow host.sysctls beyond net.ipv{4,6}.neigh.default.*")
	return c
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{fmt.Errorf("%s takes %d argument(s), got %d (usage: %s)", cmd.Name(), n, len(args), cmd.UseLine())}
		}
		return nil
	}
}

func (a *app) upCmd() *cobra.Command {
	var dryRun, allowHost bool
	var wait time.Duration
	var suffix string
	c := &cobra.Command{
		Use:   "up <lab>",
		Short: "Bring a lab up: namespaces, veth links, bridges, addresses, sysctls, static neighbours, routes, rules, link shaping, firewall rules",
		Long: `Build a lab through netlink. Everything that can be checked (the file,
privileges, kernel features, sysctl keys, name collisions, host-knob
conflicts) is checked before anything is created; if a step fails midway,
everything created so far is removed.

Each node becomes a namespace <lab>-<node>, visible to "ip netns list", so
"ip netns exec <lab>-<node> ..." works as well as "netlab exec".
--dry-run prints the plan as ip-like lines and needs no privileges.
--suffix S (or env NETLAB_SUFFIX) names the lab <name>-S, so parallel CI
jobs on one machine never collide; later commands take that full name.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, warns, err := a.load(args[0], topology.ValidateOptions{AllowHostSysctl: allowHost})
			a.printWarnings(warns)
			if err != nil {
				return err
			}
			if err := l.WithSuffix(suffix); err != nil {
				return err
			}
			if dryRun {
				p := lab.NewPlan(l.Resolve())
				if a.output == "json" {
					lines := []string{}
					for _, o := range p.Ops {
						lines = append(lines, o.String())
					}
					if err := a.json(map[string]any{"lab": l.Name, "ops": lines}); err != nil {
						return err
					}
					return lab.CheckFeatures(cmd.Context(), l)
				}
				if _, err := io.WriteString(a.stdout, p.String()); err != nil {
					return err
				}
				// Predict up faithfully: it refuses a lab whose qdiscs or
				// firewall rules this kernel lacks (exit 3).
				return lab.CheckFeatures(cmd.Context(), l)
			}
			if len(l.Scenario) > 0 {
				fmt.Fprintf(a.stderr, "note: the lab's scenario (%d steps) is validated but not run by up\n", len(l.Scenario))
			}
			o, done, err := a.upOptions(l.Name)
			if err != nil {
				return err
			}
			o.ReadyTimeout = wait
			if wait == 0 {
				o.ReadyTimeout = -1
			}
			res, err := lab.Up(cmd.Context(), l, o)
			done()
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(a.stderr, "warning: "+w)
			}
			if a.output == "json" {
				return a.json(map[string]any{"lab": l.Name, "run_id": res.RunID, "namespaces": res.Namespaces, "warnings": nonNil(res.Warnings), "ready_ms": res.Ready.Milliseconds()})
			}
			fmt.Fprintf(a.stdout, "lab %s is up (run %s): %d nodes, %d links; links operationally up after %v\n", l.Name, res.RunID, len(l.Nodes), len(l.Links), res.Ready.Round(time.Millisecond))
			fmt.Fprintf(a.stdout, "namespaces: %s\n", nameList(res.Namespaces))
			fmt.Fprintf(a.stdout, "next: netlab status %s | netlab exec %s <node> -- <cmd...> | netlab down %s\n", l.Name, l.Name, l.Name)
			return nil
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan, create nothing")
	c.Flags().StringVar(&suffix, "suffix", os.Getenv("NETLAB_SUFFIX"), "name the lab <name>-<suffix> (env NETLAB_SUFFIX): parallel CI jobs never collide")
	c.Flags().DurationVar(&wait, "wait", lab.DefaultReadyTimeout, "wait up to this long for links (and STP-less bridges) to be operationally up before returning; 0 returns at once (the kernel's linkwatch can take about a second)")
	c.Flags().BoolVar(&allowHost, "allow-host-sysctl", false, "allow host.sysctls beyond net.ipv{4,6}.neigh.default.* (they change the whole machine while the lab runs)")
	a.buildFlags(c)
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *app) downCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "down <lab>",
		Short: "Remove a lab: exactly what netlab made, and restore host knobs",
		Long: `Remove a running lab by name (the lab file is not needed). netlab deletes
only what its state records, or, if the state is gone, namespaces named
<lab>-* that carry netlab's marker for this lab; it restores host knobs the
lab held. A second down succeeds and says there was nothing to do.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := lab.Down(cmd.Context(), args[0], a.opts())
			if rep != nil && a.output == "json" {
				if jerr := a.json(rep); jerr != nil {
					return jerr
				}
			}
			if err != nil {
				return err
			}
			if a.output == "json" {
				return nil
			}
			for _, s := range rep.Skipped {
				fmt.Fprintln(a.stderr, "warning: left alone: "+s)
			}
			if rep.NothingToDo {
				fmt.Fprintf(a.stdout, "lab %s: nothing to do (not up)\n", rep.Lab)
				return nil
			}
			fmt.Fprintf(a.stdout, "lab %s is down: removed %d namespace(s)", rep.Lab, len(rep.Removed))
			if len(rep.Removed) > 0 {
				fmt.Fprintf(a.stdout, " (%s)", nameList(rep.Removed))
			}
			fmt.Fprintln(a.stdout)
			for _, r := range rep.Restored {
				fmt.Fprintf(a.stdout, "restored host sysctl %s = %s\n", strings.ReplaceAll(r.Path, "/", "."), r.Value)
			}
			return nil
		},
	}
}

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status [<lab>]",
		Short: "List running labs, or show one lab's nodes, interfaces and firewall rules",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &usageError{fmt.Errorf("status takes at most one lab name")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				labs, err := lab.List(a.opts())
				if err != nil {
					return err
				}
				if a.output == "json" {
					return a.json(map[string]any{"labs": labs})
				}
				if len(labs) == 0 {
					fmt.Fprintln(a.stdout, "no labs are up")
					return nil
				}
				tw := newTable(a.stdout, "LAB", "PHASE", "NODES", "RUN", "SINCE", "FILE")
				for _, l := range labs {
					since := ""
					if !l.Created.IsZero() {
						since = l.Created.Local().Format("2006-01-02 15:04:05")
					}
					tw.row(l.Name, l.Phase, fmt.Sprint(l.Nodes), l.RunID, since, l.File)
				}
				return tw.flush()
			}
			st, err := lab.Status(cmd.Context(), args[0], a.opts())
			if err != nil {
				if errors.Is(err, lab.ErrNotUp) {
					return &exitError{code: printErr(a.stderr, err, exitFailed)}
				}
				return err
			}
			if a.output == "json" {
				return a.json(st)
			}
			fmt.Fprintf(a.stdout, "lab %s (%s, run %s, %s)\n", st.Name, st.Phase, st.RunID, st.File)
			tw := newTable(a.stdout, "NODE", "INTERFACE", "KIND", "STATE", "MAC", "MTU", "ADDRESSES", "PEER/MASTER")
			for _, n := range st.Nodes {
				if n.Error != "" {
					tw.row(n.Name, "-", "-", "ERROR", n.Error, "", "", "")
					continue
				}
				for _, i := range n.Interfaces {
					pm := i.Peer
					if i.Master != "" {
						pm = strings.TrimPrefix(pm+" master "+i.Master, " ")
					}
					tw.row(n.Name, i.Name, i.Kind, i.State, i.MAC, fmt.Sprint(i.MTU), strings.Join(i.Addresses, ","), pm)
				}
			}
			if err := tw.flush(); err != nil {
				return err
			}
			if err := a.printFirewall(st); err != nil {
				return err
			}
			for _, k := range st.HostKnobs {
				fmt.Fprintf(a.stdout, "host sysctl %s = %s (was %s; held by %s)\n", strings.ReplaceAll(k.Path, "/", "."), k.Value, k.Original, strings.Join(k.Holders, ", "))
			}
			return nil
		},
	}
}

// printFirewall lists the nodes' firewall rules (nothing when no node has
// any): the nft rule as the kernel holds it, its counters, and the lab
// path it came from.
func (a *app) printFirewall(st *lab.LabStatus) error {
	n := 0
	for _, nd := range st.Nodes {
		n += len(nd.Firewall)
	}
	if n == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	tw := newTable(a.stdout, "NODE", "TABLE", "CHAIN", "RULE", "PACKETS", "BYTES", "FROM")
	for _, nd := range st.Nodes {
		for _, e := range nd.Firewall {
			tw.row(nd.Name, e.Table, e.Chain, e.Text, fmt.Sprint(e.Packets), fmt.Sprint(e.Bytes), e.Comment)
		}
	}
	return tw.flush()
}

func printErr(w io.Writer, err error, code int) int {
	fmt.Fprintln(w, "netlab: "+err.Error())
	return code
}

func (a *app) execCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "exec <lab> <node> -- <command> [args...]",
		Short: "Run a command inside a node's namespace; its exit status is returned",
		Long: `Run a command inside a running lab's node (its network namespace), with
stdin, stdout and stderr passed through. The command is executed directly
(never through a shell); netlab exits with its exit status (128+N if it was
killed by signal N).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return &usageError{fmt.Errorf("usage: netlab exec <lab> <node> -- <command> [args...]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := lab.Exec(cmd.Context(), args[0], args[1], args[2:], a.opts())
			if err != nil {
				if code == 127 {
					return &exitError{code: printErr(a.stderr, err, 127)}
				}
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
}
