package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/internal/state"
	"github.com/netlabdev/netlab/topology"
)

// argComp completes one positional argument, given the ones before it.
type argComp func(args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// registerCompletions adds dynamic shell completion (cobra's `completion`
// command writes the bash, zsh and fish scripts that call it) to the
// commands of the tree: lab names and files for commands that read a lab
// file, running labs (from the state directory, --state-dir respected) for
// commands that act on one, their node names (from the lab's state
// snapshot), interface names and addresses (from the lab file that
// snapshot records; the veth ends the snapshot lists if the file is gone).
// A command that already has a completion function keeps it.
func (a *app) registerCompletions(root *cobra.Command) {
	root.CompletionOptions.DisableDefaultCmd = false
	lab, node := a.compRunningLab, a.compNode(0)
	nodeIfaces, nodeAddrs := a.compIfaces(0, 1), a.compAddrs(0, 1)
	args := map[string]cobra.CompletionFunc{
		"up":       positional(compLabFile),
		"validate": positional(compLabFile),
		"run":      positional(compLabFile),
		"graph":    positional(compLabFile),
		"down":     positional(lab),
		"status":   positional(lab),
		"cleanup":  a.compCleanup,
		"exec":     a.compExec,
		"ping":     positional(lab, node, nodeAddrs),
		"arping":   positional(lab, node, nodeAddrs),
		"capture":  positional(lab, node, nodeIfaces),
		"route":    positional(lab, node, fixed("get"), a.compAddrs(0, -1)),
		"neigh":    a.compNeigh,
	}
	ifaceFlag := func(args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 && args[0] == "watch" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return nodeIfaces(args, toComplete)
	}
	flags := map[string]map[string]argComp{
		"neigh":  {"dev": ifaceFlag},
		"ping":   {"interface": ifaceFlag},
		"arping": {"interface": ifaceFlag},
		"route":  {"iif": ifaceFlag, "oif": ifaceFlag, "table": a.compTables},
		"up":     {"suffix": none},
		"run":    {"suffix": none},
	}
	for _, c := range root.Commands() {
		if f := args[c.Name()]; f != nil && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = f
		}
		for name, f := range flags[c.Name()] {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					return f(args, toComplete)
				})
			}
		}
	}
	_ = root.RegisterFlagCompletionFunc("output", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		formats := map[string][]string{"graph": {"dot", "mermaid", "svg", "json"}, "neigh": {"text", "json", "jsonl"}}[cmd.Name()]
		if formats == nil {
			formats = []string{"text", "json"}
		}
		return withPrefix(formats, toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("state-dir", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	})
}

// positional completes argument i with fs[i], and nothing past the last.
func positional(fs ...argComp) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= len(fs) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fs[len(args)](args, toComplete)
	}
}

func none([]string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveNoFileComp
}

func fixed(words ...string) argComp {
	return func(_ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return withPrefix(words, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// withPrefix keeps the candidates (a "word\tdescription" is matched on its
// word) that start with prefix.
func withPrefix(cands []string, prefix string) []string {
	var out []string
	for _, c := range cands {
		w, _, _ := strings.Cut(c, "\t")
		if strings.HasPrefix(w, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// labSearchDirs are where NAME finds NAME.yaml: NETLAB_PATH, then ./labs.
func labSearchDirs() []string {
	var dirs []string
	if p := os.Getenv("NETLAB_PATH"); p != "" {
		dirs = append(dirs, filepath.SplitList(p)...)
	}
	return append(dirs, "labs")
}

// compLabFile completes a lab argument of validate/up/run/graph: the NAMEs
// that findLab resolves (described by their file), and .yaml files and
// directories; past a '/' the shell completes files ending in .yaml/.yml.
func compLabFile(_ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(toComplete, "/") {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	}
	seen := map[string]bool{}
	var out []string
	for _, d := range labSearchDirs() {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			name, ok := yamlName(e)
			if !ok || seen[name] || topology.CheckLabName(name) != nil {
				continue
			}
			seen[name] = true
			out = append(out, name+"\t"+filepath.Join(d, e.Name()))
		}
	}
	// Files here, and directories once a word is begun (or when there is
	// no NAME to offer): a bare TAB lists the lab names, not the tree.
	dirs := toComplete != "" || len(out) == 0
	ents, _ := os.ReadDir(".")
	for _, e := range ents {
		switch _, ok := yamlName(e); {
		case ok:
			out = append(out, e.Name())
		case dirs && e.IsDir() && (!strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(toComplete, ".")):
			out = append(out, e.Name()+"/")
		}
	}
	out = withPrefix(out, toComplete)
	dir := cobra.ShellCompDirectiveNoFileComp
	if len(out) > 0 && !slices.ContainsFunc(out, func(s string) bool { return !strings.HasSuffix(s, "/") }) {
		dir |= cobra.ShellCompDirectiveNoSpace // only directories: keep going into them
	}
	return out, dir
}

// yamlName is a lab file's NAME (its base name without .yaml/.yml).
func yamlName(e os.DirEntry) (string, bool) {
	if e.IsDir() {
		return "", false
	}
	for _, ext := range []string{".yaml", ".yml"} {
		if n, ok := strings.CutSuffix(e.Name(), ext); ok && n != "" {
			return n, true
		}
	}
	return "", false
}

func (a *app) store() *state.Store { return state.New(a.stateDir) }

// compRunningLab completes the name of a lab that has state (up, or left
// by a crash), described by its phase and file.
func (a *app) compRunningLab(_ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return withPrefix(a.runningLabs(), toComplete), cobra.ShellCompDirectiveNoFileComp
}

func (a *app) runningLabs() []string {
	st := a.store()
	names, err := st.Labs()
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		desc := ""
		if snap, err := st.Load(n); err == nil && snap != nil {
			desc = strings.TrimSpace(snap.Phase + " " + snap.File)
		}
		out = append(out, strings.TrimSuffix(n+"\t"+desc, "\t"))
	}
	return out
}

func (a *app) compCleanup(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, c := range a.runningLabs() {
		if w, _, _ := strings.Cut(c, "\t"); !slices.Contains(args, w) {
			out = append(out, c)
		}
	}
	return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// compExec: lab, node, then the command (the shell's own completion).
func (a *app) compExec(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return a.compRunningLab(args, toComplete)
	case 1:
		return a.compNode(0)(args, toComplete)
	}
	return nil, cobra.ShellCompDirectiveDefault
}

// compNeigh follows neigh's grammar: <lab> [<node> [verb ...]] or
// watch <lab> [<node>...].
func (a *app) compNeigh(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 && args[0] == "watch" {
		if len(args) == 1 {
			return a.compRunningLab(nil, toComplete)
		}
		var out []string
		for _, c := range a.nodes(args[1]) {
			if w, _, _ := strings.Cut(c, "\t"); !slices.Contains(args[2:], w) {
				out = append(out, c)
			}
		}
		return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	switch len(args) {
	case 0:
		labs, d := a.compRunningLab(nil, toComplete)
		return append(labs, withPrefix([]string{"watch\twatch state transitions live"}, toComplete)...), d
	case 1:
		return a.compNode(0)(args, toComplete)
	case 2:
		return fixed("add", "set", "del", "flush", "use", "params")(args, toComplete)
	case 3:
		switch args[2] {
		case "params":
			return a.compIfaces(0, 1)(args, toComplete)
		case "add", "set", "del", "use":
			return a.compAddrs(0, -1)(args, toComplete)
		}
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// compNode completes the nodes of the running lab named by args[labArg].
func (a *app) compNode(labArg int) argComp {
	return func(args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) <= labArg {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(a.nodes(args[labArg]), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// nodes lists a running lab's nodes from its snapshot, sorted, described
// by their kind when the lab file is readable.
func (a *app) nodes(labName string) []string {
	snap, err := a.store().Load(labName)
	if err != nil || snap == nil || topology.CheckLabName(labName) != nil {
		return nil
	}
	topo := snapTopo(snap)
	var out []string
	for _, ns := range snap.Namespaces {
		c := ns.Node
		if topo != nil {
			if n := topo.Node(ns.Node); n != nil {
				c += "\t" + n.Kind
			}
		}
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// snapTopo is the resolved lab file a snapshot records, or nil when it is
// gone or no longer valid. (With --suffix the lab's name differs from the
// file's; node and interface names are the same.)
func snapTopo(snap *state.Snapshot) *topology.Topo {
	if snap.File == "" {
		return nil
	}
	l, _, err := topology.Load(snap.File, topology.ValidateOptions{AllowHostSysctl: true})
	if err != nil {
		return nil
	}
	return l.Resolve()
}

// labSnap loads the snapshot of the running lab args[labArg], or nil.
func (a *app) labSnap(args []string, labArg int) *state.Snapshot {
	if len(args) <= labArg || topology.CheckLabName(args[labArg]) != nil {
		return nil
	}
	snap, err := a.store().Load(args[labArg])
	if err != nil {
		return nil
	}
	return snap
}

// compIfaces completes the interfaces of node args[nodeArg] of the running
// lab args[labArg]: from the lab file (described by kind and addresses),
// else the veth ends the snapshot records, and lo.
func (a *app) compIfaces(labArg, nodeArg int) argComp {
	return func(args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		snap := a.labSnap(args, labArg)
		if snap == nil || len(args) <= nodeArg {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		node := args[nodeArg]
		var out []string
		if topo := snapTopo(snap); topo != nil {
			if n := topo.Node(node); n != nil {
				for _, i := range n.Ifaces {
					desc := i.Kind
					for _, p := range i.Addresses {
						desc += " " + p.String()
					}
					out = append(out, i.Name+"\t"+desc)
				}
			}
		} else {
			out = append(out, "lo")
			for _, l := range snap.Links {
				for _, end := range []string{l.A, l.B} {
					if n, i, ok := strings.Cut(end, ":"); ok && n == node {
						out = append(out, i)
					}
				}
			}
		}
		return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// compAddrs completes the addresses the lab file of the running lab
// args[labArg] declares, described by node:interface; those of node
// args[fromArg] itself are left out (fromArg -1: none left out).
func (a *app) compAddrs(labArg, fromArg int) argComp {
	return func(args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		snap := a.labSnap(args, labArg)
		if snap == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		topo := snapTopo(snap)
		if topo == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		from := ""
		if fromArg >= 0 && fromArg < len(args) {
			from = args[fromArg]
		}
		var out []string
		for _, n := range topo.Nodes {
			if n.Name == from {
				continue
			}
			for _, i := range n.Ifaces {
				for _, p := range i.Addresses {
					out = append(out, p.Addr().String()+"\t"+n.Name+":"+i.Name)
				}
			}
		}
		return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// compTables completes route --table: the kernel's named tables and the
// node's own (from the lab file).
func (a *app) compTables(args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	out := []string{"main", "local", "default"}
	if snap := a.labSnap(args, 0); snap != nil && len(args) > 1 {
		if topo := snapTopo(snap); topo != nil {
			if n := topo.Node(args[1]); n != nil {
				out = append(out, slices.Sorted(maps.Keys(n.Spec.Tables))...)
			}
		}
	}
	return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}
