// Package capture records the packets crossing one interface of a node as
// a pcap file, in pure Go: an AF_PACKET socket created inside the node's
// network namespace (through internal/nsutil) and bound to the interface
// for every protocol (ETH_P_ALL), and the pcap writer of
// github.com/gopacket/gopacket/pcapgo.
//
// What a capture holds, as tcpdump would record it on the same interface:
//
//   - both directions: packets the interface receives and packets it sends
//     (PACKET_OUTGOING), except that on a loopback interface each packet is
//     kept once (as received), not twice, as libpcap does;
//   - the kernel's timestamp of each packet (SO_TIMESTAMPNS), written with
//     nanosecond resolution (pcap magic 0xa1b23c4d, which tcpdump, tshark and
//     pcapgo read);
//   - at most Snaplen bytes of each packet (default 262144, tcpdump's), with
//     the packet's original length in the record header;
//   - a VLAN tag the kernel took out of the frame (offloaded to packet
//     metadata) put back in, as libpcap does;
//   - link type Ethernet (veth, bridge and loopback interfaces); other
//     hardware types are refused.
//
// Run stops at the first bound reached (Count packets, Duration after the
// socket is bound, Bytes of packet data) or when its context is done, which
// is how a caller ends an unbounded capture; it then flushes the writer and
// returns the counts, including the packets the kernel dropped because the
// socket's buffer was full (PACKET_STATISTICS). An interface that goes
// administratively down and up again is captured across the flap; one that
// is deleted ends the capture with an error. Run closes its socket and joins
// every goroutine it started before returning.
package capture
