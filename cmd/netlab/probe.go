package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/netlabdev/netlab/lab"
	"github.com/netlabdev/netlab/probe"
)

// secs is a duration flag that takes iputils' seconds ("0.2") or a Go
// duration ("200ms").
type secs time.Duration

func (d *secs) String() string { return time.Duration(*d).String() }
func (d *secs) Type() string   { return "duration" }
func (d *secs) Set(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || f > (1<<63-1)/1e9 {
			return fmt.Errorf("%q: out of range", s)
		}
		*d = secs(time.Duration(f * float64(time.Second)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q: want seconds (0.2) or a duration (200ms)", s)
	}
	if v < 0 {
		return fmt.Errorf("%q: must not be negative", s)
	}
	*d = secs(v)
	return nil
}

// probeTiming are the flags ping and arping share.
type probeTiming struct {
	count                       int
	interval, deadline, timeout secs
}

func (p *probeTiming) flags(c *cobra.Command, defCount int) {
	p.interval, p.timeout = secs(time.Second), secs(time.Second)
	fl := c.Flags()
	fl.IntVarP(&p.count, "count", "c", defCount, "probes to send (0: until -w passes or interrupted)")
	fl.VarP(&p.interval, "interval", "i", "time between probes (seconds or a duration)")
	fl.VarP(&p.deadline, "deadline", "w", "stop after this long whatever happened (0: no deadline); with -c, keep probing until -c answers arrived or this passes")
	fl.VarP(&p.timeout, "timeout", "W", "without -w: how long to wait for answers after the last probe")
}

// probeDst parses the destination argument.
func probeDst(cmd, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, &usageError{fmt.Errorf("%s: %q is not an IP address", cmd, s)}
	}
	return a.Unmap(), nil
}

// probeErr says whether a probe's error ends the command: with a result,
// only an error other than the interruption (the summary is printed then);
// without one, every error, the probe package's invalid options and unknown
// devices as usage errors (exit 2).
func probeErr(node string, haveResult bool, err error) error {
	switch {
	case err == nil, haveResult && errors.Is(err, context.Canceled):
		return nil
	case !haveResult && (errors.Is(err, probe.ErrInvalid) || errors.Is(err, probe.ErrNoDevice)):
		return &usageError{fmt.Errorf("node %s: %w", node, err)}
	}
	return fmt.Errorf("node %s: %w", node, err)
}

func (a *app) pingCmd() *cobra.Command {
	var t probeTiming
	var iface string
	var size, ttl int
	var df, confirm bool
	c := &cobra.Command{
		Use:   "ping <lab> <node> <dst>",
		Short: "Ping an address from a lab node (native ICMP echo, IPv4 or IPv6)",
		Long: `Send ICMP echo requests from inside a running lab's node and print the
replies and a summary the way iputils ping does (or -o json). Native: raw
ICMP sockets in the node's namespace, no ping binary needed.

-c 3 requests by default, -i 1s apart; without -w the run ends when every
request is answered or -W (1s) after the last one. -w bounds the whole run
(with -c it keeps sending until -c replies arrived, as iputils does); -c 0
pings until -w passes or it is interrupted. Durations take seconds (0.2) or
Go durations (200ms). -I takes an interface (SO_BINDTODEVICE) or a source
address. --confirm sends with MSG_CONFIRM (as iputils ping6 does): the
kernel then keeps the neighbour entry REACHABLE without probing it; plain
IPv4 echo confirms nothing.

Exit status: 0 if any reply arrived, 1 if none, 2 on bad usage.`,
		Args: exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst, err := probeDst("ping", args[2])
			if err != nil {
				return err
			}
			o := probe.PingOptions{Count: t.count, Interval: time.Duration(t.interval), Timeout: time.Duration(t.timeout),
				Deadline: time.Duration(t.deadline), Size: size, TTL: ttl, DF: df, Confirm: confirm}
			if size == 0 {
				o.Size = probe.EmptyPayload
			}
			if iface != "" {
				if src, err := netip.ParseAddr(iface); err == nil {
					o.Source = src.Unmap()
				} else {
					o.Interface = iface
				}
			}
			if err := o.CheckDst(dst); err != nil {
				return &usageError{fmt.Errorf("ping: %w", err)}
			}
			return a.ping(cmd.Context(), args[0], args[1], dst, o)
		},
	}
	t.flags(c, 3)
	fl := c.Flags()
	fl.StringVarP(&iface, "interface", "I", "", "interface or source address to send from")
	fl.IntVarP(&size, "size", "s", probe.DefaultSize, "payload bytes")
	fl.IntVarP(&ttl, "ttl", "t", 0, "IPv4 TTL / IPv6 hop limit (0: the kernel's default)")
	fl.BoolVar(&df, "df", false, "forbid fragmentation (IPv4: DF set, IP_PMTUDISC_DO)")
	fl.BoolVar(&confirm, "confirm", false, "send with MSG_CONFIRM: keeps the neighbour entry REACHABLE")
	return c
}

func (a *app) ping(ctx context.Context, labName, node string, dst netip.Addr, o probe.PingOptions) error {
	ns, err := lab.OpenNode(labName, node, a.opts())
	if err != nil {
		return err
	}
	defer ns.Close()
	text := a.output != "json"
	size := max(o.Size, 0)
	if text {
		from := ""
		if o.Source.IsValid() || o.Interface != "" {
			from = " from " + o.Source.String() + " " + o.Interface
			if !o.Source.IsValid() {
				from = " from " + o.Interface
			}
			from += ":"
		}
		if dst.Is4() {
			fmt.Fprintf(a.stdout, "PING %s (%s)%s %d(%d) bytes of data.\n", dst, dst, from, size, size+28)
		} else {
			fmt.Fprintf(a.stdout, "PING %s(%s)%s %d data bytes\n", dst, dst, from, size)
		}
		o.OnReply = func(r probe.Reply) { fmt.Fprintln(a.stdout, replyLine(r)) }
	}
	res, err := probe.Ping(ctx, ns, dst, o)
	if err := probeErr(node, res != nil, err); err != nil {
		return err
	}
	if text {
		s := res.Summary
		fmt.Fprintf(a.stdout, "\n--- %s ping statistics ---\n%d packets transmitted, %d received", dst, s.Transmitted, s.Received)
		if s.Duplicates > 0 {
			fmt.Fprintf(a.stdout, ", +%d duplicates", s.Duplicates)
		}
		if s.Errors > 0 {
			fmt.Fprintf(a.stdout, ", +%d errors", s.Errors)
		}
		fmt.Fprintf(a.stdout, ", %g%% packet loss, time %dms\n", s.LossPercent, s.TimeMS)
		if s.Received > 0 {
			fmt.Fprintf(a.stdout, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", s.RTTMinMS, s.RTTAvgMS, s.RTTMaxMS, s.RTTMdevMS)
		}
	} else if err := a.json(res); err != nil {
		return err
	}
	if res.Received == 0 {
		return &exitError{exitFailed}
	}
	return nil
}

// replyLine prints a reply as iputils ping does.
func replyLine(r probe.Reply) string {
	if r.Error != "" {
		if !r.From.IsValid() {
			return fmt.Sprintf("ping: icmp_seq=%d %s", r.Seq, r.Error)
		}
		return fmt.Sprintf("From %s icmp_seq=%d %s", r.From, r.Seq, r.Error)
	}
	s := fmt.Sprintf("%d bytes from %s: icmp_seq=%d ttl=%d time=%s ms", r.Bytes, r.From, r.Seq, r.TTL, rttText(r.RTTMS))
	if r.Dup {
		s += " (DUP!)"
	}
	return s
}

// rttText formats an RTT in ms with iputils' precision (3 significant
// digits below 100 ms).
func rttText(ms float64) string {
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms, 'f', 3, 64)
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'f', 0, 64)
}

func (a *app) arpingCmd() *cobra.Command {
	var t probeTiming
	var iface, src, garp, lladdr string
	var unsolicited, reply bool
	c := &cobra.Command{
		Use:   "arping <lab> <node> [<dst>] -I <dev>",
		Short: "ARP (IPv4) or neighbour discovery (IPv6) probes and announcements from a lab node",
		Long: `Send ARP requests (IPv4) or neighbour solicitations (IPv6) from one
interface of a running lab's node and print who answered with which MAC, the
way iputils arping does (or -o json); or announce an address:

  --gratuitous IP (or -U with <dst>)  a gratuitous ARP request: sender IP =
                                      target IP = IP, broadcast target MAC
                                      (IPv6: an unsolicited neighbour
                                      advertisement with the override flag)
  --reply / -A                        an unsolicited ARP reply (as arping -A)

The announced address need not be one of the node's (takeover
experiments). Native: an AF_PACKET socket (ARP) or a raw ICMPv6 socket (NDP)
in the node's namespace. -c 1 probe by default; -i, -w, -W as for ping.
-s sets a request's sender (source) address; --lladdr the MAC written into
the packets (default: the interface's).

Exit status: a request 0 if answered, 1 if not; an announcement 0 once
sent; 2 on bad usage.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return &usageError{fmt.Errorf("arping takes <lab> <node> [<dst>], got %d argument(s) (usage: %s)", len(args), cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o := probe.ArpingOptions{Interface: iface, Count: t.count, Interval: time.Duration(t.interval),
				Timeout: time.Duration(t.timeout), Deadline: time.Duration(t.deadline)}
			var target string
			switch {
			case garp != "" && len(args) == 3:
				return &usageError{errors.New("arping: give the address either as <dst> or with --gratuitous, not both")}
			case garp != "":
				target, o.Mode = garp, probe.ModeGratuitous
			case len(args) == 3:
				target = args[2]
				if unsolicited {
					o.Mode = probe.ModeGratuitous
				}
			default:
				return &usageError{errors.New("arping needs <dst> or --gratuitous IP")}
			}
			if reply {
				o.Mode = probe.ModeReply
			}
			if iface == "" {
				return &usageError{errors.New("arping needs -I <dev>")}
			}
			dst, err := probeDst("arping", target)
			if err != nil {
				return err
			}
			if src != "" {
				if o.Mode != probe.ModeRequest && dst.Is4() {
					return &usageError{fmt.Errorf("arping: -s is for requests; a %s ARP's sender IP is the announced address", o.Mode)}
				}
				if o.Source, err = probeDst("arping -s", src); err != nil {
					return err
				}
			}
			if lladdr != "" {
				if o.LLAddr, err = net.ParseMAC(lladdr); err != nil || len(o.LLAddr) != 6 {
					return &usageError{fmt.Errorf("arping: --lladdr %q is not a MAC address", lladdr)}
				}
			}
			if err := o.CheckTarget(dst); err != nil {
				return &usageError{fmt.Errorf("arping: %w", err)}
			}
			return a.arping(cmd.Context(), args[0], args[1], dst, o)
		},
	}
	t.flags(c, 1)
	fl := c.Flags()
	fl.StringVarP(&iface, "interface", "I", "", "the interface to send on (required)")
	fl.StringVarP(&src, "source", "s", "", "a request's sender/source address (default: the interface's address for the target)")
	fl.StringVar(&garp, "gratuitous", "", "announce this address with a gratuitous ARP request (IPv6: unsolicited advertisement)")
	fl.BoolVarP(&unsolicited, "unsolicited", "U", false, "announce <dst> with a gratuitous ARP request (as arping -U)")
	fl.BoolVarP(&reply, "reply", "A", false, "announce with an unsolicited ARP reply instead (as arping -A)")
	fl.StringVar(&lladdr, "lladdr", "", "the MAC to put in the packets (default: the interface's)")
	return c
}

func (a *app) arping(ctx context.Context, labName, node string, dst netip.Addr, o probe.ArpingOptions) error {
	ns, err := lab.OpenNode(labName, node, a.opts())
	if err != nil {
		return err
	}
	defer ns.Close()
	if a.output != "json" {
		o.OnStart = func(r probe.ArpingResult) {
			proto, what := "ARPING", map[probe.ArpingMode]string{probe.ModeGratuitous: " (gratuitous)", probe.ModeReply: " (unsolicited reply)"}[o.Mode]
			if dst.Is6() {
				proto, what = "NDP", " (neighbour solicitation)"
				if o.Mode != probe.ModeRequest {
					what = " (unsolicited neighbour advertisement)"
				}
			}
			fmt.Fprintf(a.stdout, "%s %s from %s %s%s\n", proto, dst, r.Source, r.Interface, what)
		}
		o.OnReply = func(r probe.ArpingReply) { fmt.Fprintln(a.stdout, arpingLine(dst, r)) }
	}
	res, err := probe.Arping(ctx, ns, dst, o)
	if err := probeErr(node, res != nil, err); err != nil {
		return err
	}
	if a.output != "json" {
		s := res.Summary
		cast := "broadcast(s)"
		if dst.Is6() {
			cast = "multicast"
		}
		fmt.Fprintf(a.stdout, "Sent %d probes (%d %s)\nReceived %d response(s)\n", s.Transmitted, s.Transmitted, cast, s.Received)
	} else if err := a.json(res); err != nil {
		return err
	}
	if (o.Mode == probe.ModeRequest && res.Received == 0) || res.Errors > 0 {
		return &exitError{exitFailed}
	}
	return nil
}

// arpingLine prints an answer as iputils arping does.
func arpingLine(dst netip.Addr, r probe.ArpingReply) string {
	switch {
	case r.Error != "":
		return fmt.Sprintf("arping: probe %d: %s", r.Seq, r.Error)
	case dst.Is6():
		return fmt.Sprintf("Neighbour advertisement from %s [%s]  %.3fms", r.From, r.LLAddr, r.RTTMS)
	case r.Unicast:
		return fmt.Sprintf("Unicast reply from %s [%s]  %.3fms", r.From, r.LLAddr, r.RTTMS)
	}
	return fmt.Sprintf("Broadcast reply from %s [%s]  %.3fms", r.From, r.LLAddr, r.RTTMS)
}
