package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// regenDocs is the one command that regenerates the CLI reference, from
// the repository's root.
const regenDocs = "go run ./cmd/netlab gendocs docs"

// mdEscape keeps Markdown from reading usage text as tags or emphasis.
var mdEscape = strings.NewReplacer("<", `\<`, ">", `\>`, "*", `\*`, "_", `\_`)

// docsDate is the date in the man pages' header. It is fixed so that the
// pages only change when the CLI does.
var docsDate = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

func (a *app) gendocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gendocs <dir>",
		Short:  "Write the CLI reference: <dir>/cli/*.md and <dir>/man/*.1",
		Hidden: true,
		Long: `Write the CLI reference generated from the command tree: Markdown
pages in <dir>/cli and man pages in <dir>/man (stale ones are removed).
Flag defaults are netlab's own: NETLAB_* environment variables are ignored.
Regenerate the checked-in reference with: ` + regenDocs,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Defaults such as --state-dir come from NETLAB_* variables:
			// document the built-in ones (this process ends right after).
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NETLAB_") {
					os.Unsetenv(k)
				}
			}
			return genDocs(args[0])
		},
	}
}

// docsTree is the command tree as the reference shows it, with the
// commands cobra adds when it runs (completion, --version). The long help
// is laid out for a terminal (aligned columns, <placeholders>): the pages
// keep it as preformatted text. Man pages go through Markdown, which would
// drop a <lab> in a usage line or flag as an HTML tag: escaped there.
func docsTree(man bool) *cobra.Command {
	root := (&app{stdout: io.Discard, stderr: io.Discard}).rootCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	escaped := map[*pflag.Flag]bool{} // a persistent flag shows up under each command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true // no generation date in the pages
		if c.Long != "" {
			c.Long = "```\n" + strings.TrimSpace(c.Long) + "\n```"
		}
		if man {
			c.Use = mdEscape.Replace(c.Use)
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if !escaped[f] {
					escaped[f] = true
					f.Usage = mdEscape.Replace(f.Usage)
				}
			})
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return root
}

// genDocs writes dir/cli/*.md and dir/man/*.1 for the whole tree, after
// removing the old ones (a removed command loses its page).
func genDocs(dir string) error {
	md, man := filepath.Join(dir, "cli"), filepath.Join(dir, "man")
	for _, d := range []struct{ path, glob string }{{md, "*.md"}, {man, "*.1"}} {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return fmt.Errorf("gendocs: %w", err)
		}
		old, err := filepath.Glob(filepath.Join(d.path, d.glob))
		if err != nil {
			return fmt.Errorf("gendocs: %w", err)
		}
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("gendocs: %w", err)
			}
		}
	}
	if err := doc.GenMarkdownTree(docsTree(false), md); err != nil {
		return fmt.Errorf("gendocs: markdown in %s: %w", md, err)
	}
	hdr := &doc.GenManHeader{Section: "1", Source: "netlab", Manual: "netlab manual", Date: &docsDate}
	if err := doc.GenManTree(docsTree(true), hdr, man); err != nil {
		return fmt.Errorf("gendocs: man pages in %s: %w", man, err)
	}
	return nil
}
