// Package labgen writes lab files of a given shape and size, for tests and
// benchmarks that need labs of hundreds or thousands of nodes.
package labgen

import (
	"fmt"
	"sort"
	"strings"
)

// Chain returns a lab file of n nodes n0..n(n-1) in a chain: node i's
// interface e joins node i+1's interface w, and each link is a /30 from
// 10.0.0.0/8 with both ends addressed (.1 on e, .2 on w). hostSysctls, if
// any, become the lab's host.sysctls (in key order). n may be up to 62500.
func Chain(name string, n int, hostSysctls map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", name)
	if len(hostSysctls) > 0 {
		keys := make([]string, 0, len(hostSysctls))
		for k := range hostSysctls {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("host:\n  sysctls:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "    %s: %s\n", k, hostSysctls[k])
		}
	}
	b.WriteString("nodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  n%d:\n    interfaces:\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "      w: {addresses: [10.%d.%d.2/30]}\n", (i-1)/250, (i-1)%250)
		}
		if i < n-1 {
			fmt.Fprintf(&b, "      e: {addresses: [10.%d.%d.1/30]}\n", i/250, i%250)
		}
	}
	b.WriteString("links:\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "  - endpoints: [n%d:e, n%d:w]\n", i, i+1)
	}
	return b.String()
}
