// Package scenario runs the steps of a lab's scenario against a running lab,
// in order, with the defaults of DESIGN.md "Scenario semantics", and writes
// the run's evidence: report.json, junit.xml and the neighbour timeline of
// every node for the whole run (timeline.jsonl, timeline.csv).
//
// Steps: ping, arping and tcp (package probe); sleep; expect (a condition
// checked once) and wait (polled every PollInterval until it holds or its
// timeout, default 5 s, passes) with the conditions neighbor (state, one or
// a list / lladdr / absent), route (via / dev / type, the kernel's decision
// from routectl), sysctl (value) and fdb (a MAC in a bridge node's
// forwarding database, optionally on dev, or absent); sysctl (write, read
// back); link (down: the kernel flushes the device's neighbours, routes and
// IPv6 addresses; up: the link is set up and the lab's declared addresses of
// that device are added again — static routes and neighbours are NOT
// re-applied); neigh (add, set, del, flush, use through neighctl); firewall
// (add rules to or flush the node's netlab tables); capture (pcap of one
// interface into the output directory, in the background from the step on,
// until its count or duration or the end of the run); exec (argv in the
// node, output kept in the report, expect_exit default 0).
//
// A step that fails (FAIL: an expectation not met; ERROR: the step could not
// be carried out) stops the scenario: later steps are SKIPPED. Run logs
// nothing unless given a Logger; the caller prints.
package scenario
