package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

// addTools adds the commands around the lab ones: graph, version (and
// --version).
func (a *app) addTools(root *cobra.Command) {
	root.AddCommand(a.graphCmd(), a.versionCmd())
	root.Version = buildVersion(debug.ReadBuildInfo()).short()
	root.SetVersionTemplate("{{.Version}}\n")
}
