package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/lab"
)

func (a *app) cleanupCmd() *cobra.Command {
	var co lab.CleanupOptions
	cmd := &cobra.Command{
		Use:   "cleanup [--all] [--dry-run] [<lab>...]",
		Short: "Remove labs left behind by crashes (or every lab with --all)",
		Long: `Find netlab's labs on this machine, from the state directory and from the
ownership marker on the loopback of every namespace in /run/netns, and remove:

  crashed   state left by an up or down that never finished (killed, or the
            machine went down);
  orphaned  namespaces carrying netlab's marker whose state is gone (the
            runtime directory was lost);
  stale     state of a lab none of whose namespaces exist any more.

Healthy labs are left alone unless named or --all is given. A namespace
without netlab's marker is never touched, whatever its name. A lab whose lock
a running netlab holds (an up or down in progress) is skipped. Removal is
exactly "netlab down": namespaces, links, state, host knobs restored.
--dry-run lists what would be removed and changes nothing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			co.Labs = args
			if co.All && len(args) > 0 {
				return &usageError{fmt.Errorf("cleanup: give lab names or --all, not both")}
			}
			items, err := lab.Cleanup(cmd.Context(), co, a.opts())
			if items == nil && err != nil {
				return err
			}
			if a.output == "json" {
				if items == nil {
					items = []lab.CleanupItem{}
				}
				if jerr := a.json(map[string]any{"dry_run": co.DryRun, "labs": items}); jerr != nil {
					return jerr
				}
				return err
			}
			if len(items) == 0 {
				fmt.Fprintln(a.stdout, "no netlab labs on this machine")
				return err
			}
			tw := newTable(a.stdout, "LAB", "FOUND", "PHASE", "NAMESPACES", "ACTION")
			for _, it := range items {
				action := it.Action
				if co.DryRun && action == "remove" {
					action = "would remove"
				}
				if it.Error != "" {
					action += ": " + it.Error
				}
				tw.row(it.Lab, it.Reason, it.Phase, fmt.Sprint(len(it.Namespaces)), action)
			}
			if ferr := tw.flush(); ferr != nil {
				return ferr
			}
			var restored []string
			for _, it := range items {
				if it.Report != nil {
					for _, r := range it.Report.Restored {
						restored = append(restored, fmt.Sprintf("%s = %s", strings.ReplaceAll(r.Path, "/", "."), r.Value))
					}
				}
			}
			for _, r := range restored {
				fmt.Fprintln(a.stdout, "restored host sysctl "+r)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&co.All, "all", false, "remove every netlab lab on this machine, healthy ones too")
	cmd.Flags().BoolVar(&co.DryRun, "dry-run", false, "list what would be removed; change nothing")
	return cmd
}
