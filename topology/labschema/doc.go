// Package labschema generates the JSON Schema (draft 2020-12) of netlab lab
// files from the Go types the topology parser decodes into, and a Markdown
// reference of every key from that schema.
//
// The structure (objects, keys, lists, maps, required keys, closed objects)
// comes from topology's types and their yaml tags through
// github.com/invopop/jsonschema; what the types cannot say (meanings,
// defaults, enums, name patterns, number ranges) comes from the hint table
// in hints.go, keyed by type and key, and from topology's own exported
// rules (name limits, verbs, neighbour states, ICMP type names, defaults).
// Tests keep the table, the parser and the validator in agreement.
//
// Like topology, the package is pure: no netlink, no kernel.
package labschema
