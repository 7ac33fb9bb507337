package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

// addTools adds the commands around the lab ones: graph, version (and
// --version), the hidden gendocs, and dynamic shell completion for the
// whole tree (cobra's completion command writes the scripts).
func (a *app) addTools(root *cobra.Command) {
	root.AddCommand(a.graphCmd(), a.versionCmd(), a.gendocsCmd())
	root.Version = buildVersion(debug.ReadBuildInfo()).short()
	root.SetVersionTemplate("{{.Version}}\n")
	a.registerCompletions(root)
}
