// Package probe sends probes from inside a network namespace, natively (no
// iputils at run time), and returns structured results with timestamps:
//
//   - Ping: ICMP echo over raw IPv4/IPv6 sockets, with count, interval,
//     timeout (the wait for the last reply), deadline, payload size, TTL or
//     hop limit, DF, a source address or interface, and optionally
//     MSG_CONFIRM on every send (iputils ping6 does that; it keeps the
//     sender's neighbour entry REACHABLE, which plain IPv4 echo does not).
//     Replies are matched by ICMP id, sequence, a per-run cookie in the
//     payload and the source address; the summary has iputils' numbers
//     (transmitted, received, loss, min/avg/max/mdev).
//   - Arping: for an IPv4 target, ARP over an AF_PACKET socket bound to one
//     interface: a request (the reply's MAC and RTT, or a timeout), a
//     gratuitous request (sender IP = target IP, broadcast) or an unsolicited
//     reply (like `arping -A`); the announced address need not be one of the
//     node's. For an IPv6 target, the matching neighbour discovery messages:
//     a neighbour solicitation to the solicited-node multicast address, or an
//     unsolicited neighbour advertisement with the override flag.
//   - TCPFlow: a listener in one namespace and a client in another moving a
//     byte count or sending for a duration.
//
// Every socket is created inside the namespace through nsutil.Do (a socket
// belongs to the namespace it was created in and can be used from any
// goroutine afterwards). Every call takes a context first, joins every
// goroutine it starts and closes every socket it opens before it returns.
// The package logs nothing; per-reply callbacks (OnReply) let a caller print
// replies as they arrive.
//
// Timing semantics (shared by Ping and Arping, as iputils does it):
//
//   - Count > 0, no Deadline: Count probes, Interval apart; the run ends when
//     every probe is answered (or failed), or Timeout after the last one.
//   - Count > 0 with a Deadline: probes keep going out, Interval apart, until
//     Count answers arrived or the Deadline passed.
//   - Count == 0: probes until the Deadline passes or the context ends.
//
// When the context ends first, the result so far is returned together with
// the context's error.
package probe
