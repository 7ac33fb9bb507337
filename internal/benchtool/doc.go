// Command benchtool is the driver behind scripts/bench: it measures, in one
// run on one machine, how long netlab takes to build and remove labs next
// to the tools people would otherwise use, and prints a markdown table with
// ratios, a scaling line and one PASS/FAIL line per target of issue 7.
//
// What it compares:
//
//   - Mininet-equivalent linear labs (N hosts, N bridges chained): netlab
//     up+down against `mn --topo linear,N --switch lxbr --controller none
//     --test none`, run in a throwaway sandbox (its own network, mount and
//     pid namespaces, a read-only /proc/sys, a private /tmp) so that
//     Mininet's sysctl changes and its clean-up-on-error (which kills
//     processes and deletes files by name patterns) cannot reach the host;
//   - chains n1..nN with a /30 on every link: netlab up, down and
//     up+ping-the-neighbour against an equivalent iproute2 script generated
//     from the same topology (one `ip -batch` for the namespaces and veths,
//     then one `ip -n NS -batch` per namespace for addresses and links up),
//     against the floor (an `ip -batch` making only the namespaces and the
//     veths) and, for small N, a loop of one `ip` process per command;
//   - the cost of `netlab neigh watch` over every node of a large lab while
//     nothing happens, and whether it reports every transition of a burst of
//     neighbour entries changing at once.
//
// Each variant runs several times from scratch: every run is cleaned up (by
// `netlab down`, or by deleting by name the namespaces the bench made) and
// checked to have left nothing before the next starts; the table shows the
// median, min and max wall time, the peak RSS and the median CPU time
// (user+sys from the children's rusage). benchtool never deletes anything it
// did not create and never runs a shell.
package main
