// Command netlab builds Linux network labs out of network namespaces through
// netlink and tears them down again: `netlab validate`, `up`, `down`,
// `status` and `exec`. It is thin: flags become calls into the topology and
// lab packages; it owns output formats and exit codes (0 ok, 1 a check or
// operation failed, 2 usage or invalid input, 3 the environment cannot run
// it).
//
// Not to be confused with ipspace/netlab, an unrelated Python tool with the
// same command name.
package main
