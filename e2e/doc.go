// Package e2e holds netlab's root-only end-to-end tests: they build the
// netlab binary, bring labs up for real, and check the kernel's state through
// netlink and, independently, through iproute2's `ip -j` output. Without
// root they skip, unless NETLAB_E2E_REQUIRED=1 (set in CI), which turns a
// skip into a failure.
package e2e
