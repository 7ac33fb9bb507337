package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionInfo is what `netlab version` prints; its JSON only grows.
type versionInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"` // the module version: v1.2.3, or (devel) for a build from a checkout
	Commit    string `json:"commit,omitempty"`
	Time      string `json:"commit_time,omitempty"` // RFC 3339
	Modified  bool   `json:"modified"`              // the checkout had uncommitted changes
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// buildVersion reads the binary's build information (module version, and
// the VCS stamp `go build` adds in a checkout).
func buildVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Module: "github.com/netlabdev/netlab", Version: "(unknown)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// short is one line: "netlab v1.2.3 (commit 1c99892abcde, modified, 2026-01-02T03:04:05Z; go1.26.8 linux/amd64)".
func (v versionInfo) short() string {
	var parts []string
	if v.Commit != "" {
		c := v.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		parts = append(parts, "commit "+c)
	}
	if v.Modified {
		parts = append(parts, "modified")
	}
	if v.Time != "" {
		parts = append(parts, v.Time)
	}
	s := "netlab " + v.Version + " ("
	if len(parts) > 0 {
		s += strings.Join(parts, ", ") + "; "
	}
	return s + v.GoVersion + " " + v.Platform + ")"
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print netlab's version, commit and Go version",
		Long: `Print the module version (a tag such as v1.2.3 for "go install ...@v1.2.3",
(devel) for a build from a checkout), the VCS commit, its time and whether
the checkout had uncommitted changes (as stamped by "go build"), and the Go
version and platform. -o json prints the same as an object. netlab
--version prints one line.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := buildVersion(debug.ReadBuildInfo())
			if a.output == "json" {
				return a.json(v)
			}
			fmt.Fprintf(a.stdout, "netlab %s\n", v.Version)
			fmt.Fprintf(a.stdout, "module:  %s\n", v.Module)
			if v.Commit != "" {
				mod := ""
				if v.Modified {
					mod = " (modified)"
				}
				fmt.Fprintf(a.stdout, "commit:  %s%s\n", v.Commit, mod)
			}
			if v.Time != "" {
				fmt.Fprintf(a.stdout, "time:    %s\n", v.Time)
			}
			fmt.Fprintf(a.stdout, "go:      %s %s\n", v.GoVersion, v.Platform)
			return nil
		},
	}
}
