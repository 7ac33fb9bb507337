package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/topology/labschema"
)

// schemaCmd prints the lab file's JSON Schema (the one checked in at
// docs/lab.schema.json), for editors and other validators.
func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of lab files (draft 2020-12), for editors and validators",
		Long: `Print the JSON Schema (draft 2020-12) of netlab lab files: every key, its
type, default and meaning, enums and name patterns. It is generated from the
Go types the lab parser decodes into; docs/lab.schema.json is the same text.

Point an editor at it, e.g. with a first line in the lab file that
yaml-language-server (VS Code's YAML extension) reads:
  # yaml-language-server: $schema=../docs/lab.schema.json

The schema checks the file's shape; "netlab validate" checks everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := labschema.JSON()
			if err != nil {
				return fmt.Errorf("lab schema: %w", err)
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
}
