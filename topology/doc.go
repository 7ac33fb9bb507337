// Package topology is the lab file: it parses a YAML lab strictly (unknown keys
// are errors, every error carries file:line:col), applies defaults, validates the
// whole lab at once (every problem reported, each with its path such as
// nodes.h1.interfaces.eth0.addresses[1]) and resolves it into an ordered,
// kernel-ready description.
//
// The package is pure: it imports no netlink and touches no kernel, so
// `netlab validate` works without privileges and the parser can be fuzzed.
package topology
