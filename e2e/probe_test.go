package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/probe"
)

// probeLab: two hosts on one veth pair. h1 has short ARP timers: REACHABLE
// lasts a draw from [0.5 s, 1.5 s) (base_reachable_time 1 s);
// delay_first_probe_time 0 makes an expiring REACHABLE entry go STALE (not
// DELAY) although pings keep flowing; retrans_time 100 ms makes an
// unanswered resolution FAILED after 3 x 100 ms.
const probeLab = `name: x
nodes:
  h1:
    sysctls:
      net.ipv4.neigh.eth0.base_reachable_time_ms: 1000
      net.ipv4.neigh.eth0.delay_first_probe_time: 0
      net.ipv4.neigh.eth0.retrans_time_ms: 100
      net.ipv6.neigh.eth0.retrans_time_ms: 100
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64], mac: "02:00:00:00:0d:01"}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24, 2001:db8::2/64], mac: "02:00:00:00:0d:02"}
links:
  - endpoints: [h1:eth0, h2:eth0]
`

// pingJSON is `netlab ping -o json`, decoded independently of probe.
type pingJSON struct {
	Dst     string `json:"dst"`
	Replies []struct {
		Seq   int     `json:"seq"`
		From  string  `json:"from"`
		TTL   int     `json:"ttl"`
		Bytes int     `json:"bytes"`
		RTTMS float64 `json:"rtt_ms"`
		Error string  `json:"error"`
	} `json:"replies"`
	Transmitted int     `json:"transmitted"`
	Received    int     `json:"received"`
	Errors      int     `json:"errors"`
	LossPercent float64 `json:"loss_percent"`
	RTTAvgMS    float64 `json:"rtt_avg_ms"`
}

// arpingJSON is `netlab arping -o json`.
type arpingJSON struct {
	Protocol string `json:"protocol"`
	Mode     string `json:"mode"`
	Source   string `json:"source"`
	Replies  []struct {
		From    string  `json:"from"`
		LLAddr  string  `json:"lladdr"`
		RTTMS   float64 `json:"rtt_ms"`
		Unicast bool    `json:"unicast"`
	} `json:"replies"`
	Transmitted int `json:"transmitted"`
	Received    int `json:"received"`
}

// netlabPing runs `netlab ping LAB NODE DST args... -o json`.
func netlabPing(t *testing.T, wantCode int, lab, node, dst string, args ...string) pingJSON {
	t.Helper()
	r := netlab(t, append([]string{"ping", lab, node, dst, "-o", "json"}, args...)...)
	if r.code != wantCode {
		t.Fatalf("want exit %d:\n%s", wantCode, r)
	}
	var p pingJSON
	decodeJSON(t, "ping -o json", r.stdout, &p)
	return p
}

// iputilsStat is the summary line of iputils ping, run in the node with
// `netlab exec`: the independent witness.
type iputilsStat struct {
	sent, received, errors int
	loss                   string
	ttl                    []int
	code                   int
}

var (
	pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received(?:, \+(\d+) errors)?, ([\d.]+)% packet loss`)
	pingTTL     = regexp.MustCompile(`icmp_seq=\d+ ttl=(\d+)`)
)

func iputilsPing(t *testing.T, lab, node string, args ...string) iputilsStat {
	t.Helper()
	r := netlab(t, append([]string{"exec", lab, node, "--", "ping"}, args...)...)
	m := pingSummary.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("iputils ping printed no summary:\n%s", r)
	}
	s := iputilsStat{loss: m[4], code: r.code}
	s.sent, _ = strconv.Atoi(m[1])
	s.received, _ = strconv.Atoi(m[2])
	s.errors, _ = strconv.Atoi(m[3])
	for _, tm := range pingTTL.FindAllStringSubmatch(r.stdout, -1) {
		n, _ := strconv.Atoi(tm[1])
		s.ttl = append(s.ttl, n)
	}
	return s
}

// checkPingAgrees runs netlab ping and iputils ping with the same count and
// interval and compares what they saw.
func checkPingAgrees(t *testing.T, lab, node, dst string, count int) {
	t.Helper()
	n := strconv.Itoa(count)
	p := netlabPing(t, 0, lab, node, dst, "-c", n, "-i", "0.05")
	if p.Transmitted != count || p.Received != count || p.LossPercent != 0 || len(p.Replies) != count {
		t.Errorf("netlab ping %s: %d sent, %d received, %g%% loss", dst, p.Transmitted, p.Received, p.LossPercent)
	}
	for i, r := range p.Replies {
		if r.Seq != i+1 || r.From != dst || r.TTL != 64 || r.Bytes != 64 || r.RTTMS <= 0 {
			t.Errorf("netlab ping %s: reply %d: %+v", dst, i, r)
		}
	}
	w := iputilsPing(t, lab, node, "-c", n, "-i", "0.05", dst)
	if w.code != 0 || w.sent != p.Transmitted || w.received != p.Received || w.loss != "0" {
		t.Errorf("iputils ping %s disagrees: %+v (netlab: %d/%d)", dst, w, p.Transmitted, p.Received)
	}
	for _, ttl := range w.ttl {
		if ttl != 64 {
			t.Errorf("iputils saw ttl %d, netlab 64", ttl)
		}
	}
}

// ipNeighOf is node's entry for ip according to `ip -j neigh show`:
// state and lladdr, or "ABSENT".
func ipNeighOf(t *testing.T, ns, ip string) (state, lladdr string) {
	t.Helper()
	var list []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	ipJSON(t, &list, "-n", ns, "neigh", "show", "dev", "eth0")
	for _, e := range list {
		if e.Dst == ip {
			return strings.Join(e.State, "|"), e.LLAddr
		}
	}
	return "ABSENT", ""
}

// waitNeigh polls until node's entry for ip has lladdr (and exists).
func waitNeigh(t *testing.T, ns, ip, lladdr string) (state string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, ll := ipNeighOf(t, ns, ip)
		if ll == lladdr {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: entry for %s is %s %s, want lladdr %s", ns, ip, st, ll, lladdr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProbe drives `netlab ping` and `netlab arping` against a live
// two-host lab, with iputils ping/arping run in the same namespace (netlab
// exec) and `ip neigh` / `netlab neigh watch` as witnesses, and a TCP flow
// through the probe package on the lab's namespaces. Not parallel:
// neighbour timing.
func TestProbe(t *testing.T) {
	requireRoot(t)
	l := newLabText(t, probeLab, "probe")
	l.up(t)
	ns1, ns2 := l.Name+"-h1", l.Name+"-h2"

	t.Run("ping", func(t *testing.T) {
		checkPingAgrees(t, l.Name, "h1", "192.0.2.2", 3)
		checkPingAgrees(t, l.Name, "h1", "2001:db8::2", 3)
		// Text output like iputils.
		r := mustNetlab(t, "ping", l.Name, "h2", "192.0.2.1", "-c", "2", "-i", "50ms", "-I", "eth0")
		for _, want := range []string{"PING 192.0.2.1 (192.0.2.1) from eth0: 56(84) bytes of data.", "64 bytes from 192.0.2.1: icmp_seq=2 ttl=64 time=",
			"--- 192.0.2.1 ping statistics ---", "2 packets transmitted, 2 received, 0% packet loss", "rtt min/avg/max/mdev = "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("text output lacks %q:\n%s", want, r.stdout)
			}
		}
		// Usage errors that need the lab: an unknown node, an unknown device.
		if r := netlab(t, "ping", l.Name, "h9", "192.0.2.2"); r.code != 2 {
			t.Errorf("unknown node: want exit 2:\n%s", r)
		}
		if r := netlab(t, "ping", l.Name, "h1", "192.0.2.2", "-I", "eth7", "-c", "1"); r.code != 2 || !strings.Contains(r.stderr, "eth7") {
			t.Errorf("unknown device: want exit 2:\n%s", r)
		}
	})

	t.Run("unanswered", func(t *testing.T) {
		w := startWatch(t, l.Name, "h1")
		for _, dst := range []string{"192.0.2.99", "2001:db8::99"} {
			p := netlabPing(t, 1, l.Name, "h1", dst, "-c", "2", "-i", "0.05", "-W", "0.2")
			if p.Transmitted != 2 || p.Received != 0 || p.LossPercent != 100 {
				t.Errorf("ping %s: %+v", dst, p)
			}
			// INCOMPLETE (not notified: a poll or the state machine shows it),
			// then FAILED after 3 x retrans_time.
			failed := w.waitFor(t, "h1", dst, "FAILED", 3*time.Second)
			if failed.Old != "INCOMPLETE" {
				t.Errorf("%s: %s -> FAILED, want INCOMPLETE -> FAILED; timeline:\n%s", dst, failed.Old, w.timeline())
			}
		}
		w.stop(t)
		// iputils agrees: 100% loss, exit 1.
		if s := iputilsPing(t, l.Name, "h1", "-c", "1", "-W", "0.3", "192.0.2.98"); s.code != 1 || s.received != 0 || s.loss != "100" {
			t.Errorf("iputils ping to nobody: %+v", s)
		}
	})

	t.Run("arping", func(t *testing.T) {
		for _, c := range []struct{ dst, proto, src string }{{"192.0.2.2", "arp", "192.0.2.1"}, {"2001:db8::2", "ndp", "2001:db8::1"}} {
			var a arpingJSON
			decodeJSON(t, "arping", mustNetlab(t, "arping", l.Name, "h1", c.dst, "-I", "eth0", "-c", "2", "-i", "0.05", "-o", "json").stdout, &a)
			if a.Protocol != c.proto || a.Source != c.src || a.Transmitted != 2 || a.Received != 2 || len(a.Replies) != 2 {
				t.Fatalf("arping %s: %+v", c.dst, a)
			}
			for _, r := range a.Replies {
				if r.LLAddr != "02:00:00:00:0d:02" || r.From != c.dst || !r.Unicast || r.RTTMS <= 0 {
					t.Errorf("arping %s: reply %+v", c.dst, r)
				}
			}
		}
		r := mustNetlab(t, "arping", l.Name, "h1", "192.0.2.2", "-I", "eth0")
		if !strings.Contains(r.stdout, "Unicast reply from 192.0.2.2 [02:00:00:00:0d:02]") || !strings.Contains(r.stdout, "Received 1 response(s)") {
			t.Errorf("arping text:\n%s", r.stdout)
		}
		// iputils arping (the iputils-arping package) sees the same MAC.
		if out, err := exec.Command("arping", "-V").CombinedOutput(); err != nil || !strings.Contains(string(out), "iputils") {
			msg := fmt.Sprintf("iputils arping is not installed (scripts/setup installs iputils-arping): %v %s", err, out)
			if os.Getenv("NETLAB_E2E_REQUIRED") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		w := netlab(t, "exec", l.Name, "h1", "--", "arping", "-c", "1", "-w", "2", "-I", "eth0", "192.0.2.2")
		if w.code != 0 || !strings.Contains(strings.ToLower(w.stdout), "unicast reply from 192.0.2.2 [02:00:00:00:0d:02]") {
			t.Errorf("iputils arping disagrees:\n%s", w)
		}
		// A request nobody answers: exit 1, for both.
		if r := netlab(t, "arping", l.Name, "h1", "192.0.2.97", "-I", "eth0", "-W", "0.2"); r.code != 1 || !strings.Contains(r.stdout, "Received 0 response(s)") {
			t.Errorf("unanswered arping: want exit 1:\n%s", r)
		}
		if w := netlab(t, "exec", l.Name, "h1", "--", "arping", "-c", "1", "-w", "1", "-I", "eth0", "192.0.2.97"); w.code != 1 {
			t.Errorf("iputils arping to nobody: want exit 1:\n%s", w)
		}
	})

	t.Run("gratuitous", func(t *testing.T) {
		// h2 knows h1 (from the pings above). A gratuitous ARP announcing
		// 192.0.2.1 at another MAC overrides h2's entry (STALE); announcing
		// it again at the real MAC puts it back.
		mustNetlab(t, "ping", l.Name, "h1", "192.0.2.2", "-c", "1")
		if st, ll := ipNeighOf(t, ns2, "192.0.2.1"); ll != "02:00:00:00:0d:01" {
			t.Fatalf("h2's entry for h1 before: %s %s", st, ll)
		}
		mustNetlab(t, "arping", l.Name, "h1", "--gratuitous", "192.0.2.1", "-I", "eth0", "--lladdr", "02:00:00:00:0d:99")
		if st := waitNeigh(t, ns2, "192.0.2.1", "02:00:00:00:0d:99"); st != "STALE" {
			t.Errorf("after a gratuitous ARP h2's entry is %s, want STALE", st)
		}
		// The same with an unsolicited reply (-A), back to the real MAC.
		mustNetlab(t, "arping", l.Name, "h1", "192.0.2.1", "-A", "-I", "eth0")
		waitNeigh(t, ns2, "192.0.2.1", "02:00:00:00:0d:01")
		// IPv6: an unsolicited advertisement with the override flag.
		mustNetlab(t, "ping", l.Name, "h1", "2001:db8::2", "-c", "1")
		mustNetlab(t, "arping", l.Name, "h1", "2001:db8::1", "-U", "-I", "eth0", "--lladdr", "02:00:00:00:0d:98")
		waitNeigh(t, ns2, "2001:db8::1", "02:00:00:00:0d:98")
		mustNetlab(t, "arping", l.Name, "h1", "2001:db8::1", "-U", "-I", "eth0")
		waitNeigh(t, ns2, "2001:db8::1", "02:00:00:00:0d:01")

		// An address h2 has no entry for (not even one of h1's: a takeover
		// announcement): arp_accept=0 creates nothing, 1 creates a STALE entry.
		for _, accept := range []string{"0", "1"} {
			mustNetlab(t, "exec", l.Name, "h2", "--", "sh", "-c", "echo "+accept+" > /proc/sys/net/ipv4/conf/eth0/arp_accept")
			r := mustNetlab(t, "arping", l.Name, "h1", "--gratuitous", "192.0.2.7"+accept, "-I", "eth0")
			if !strings.Contains(r.stdout, "ARPING 192.0.2.7"+accept+" from 192.0.2.7"+accept+" eth0 (gratuitous)") || !strings.Contains(r.stdout, "Sent 1 probes") {
				t.Errorf("gratuitous text:\n%s", r.stdout)
			}
			if accept == "0" {
				time.Sleep(100 * time.Millisecond)
				if st, ll := ipNeighOf(t, ns2, "192.0.2.70"); st != "ABSENT" {
					t.Errorf("arp_accept=0: the gratuitous ARP created %s %s", st, ll)
				}
				continue
			}
			if st := waitNeigh(t, ns2, "192.0.2.71", "02:00:00:00:0d:01"); st != "STALE" {
				t.Errorf("arp_accept=1: the new entry is %s, want STALE", st)
			}
		}
	})

	t.Run("confirm", func(t *testing.T) {
		var p neighParams
		decodeJSON(t, "params", mustNetlab(t, "neigh", l.Name, "h1", "params", "eth0", "-o", "json").stdout, &p)
		r := time.Duration(p.reachable(t, "inet")) * time.Millisecond
		if r < 500*time.Millisecond || r >= 1500*time.Millisecond {
			t.Fatalf("reachable_time %s outside [0.5 s, 1.5 s)", r)
		}
		// 20 pings 100 ms apart last about 2 s: longer than any draw (1.5 s)
		// plus timer lateness (32 ms at this length).
		for _, confirm := range []bool{false, true} {
			mustNetlab(t, "neigh", l.Name, "h1", "flush", "--dev", "eth0")
			w := startWatch(t, l.Name, "h1")
			args := []string{"ping", l.Name, "h1", "192.0.2.2", "-c", "20", "-i", "0.1"}
			if confirm {
				args = append(args, "--confirm")
			}
			mustNetlab(t, args...)
			end := time.Now()
			reach := w.waitFor(t, "h1", "192.0.2.2", "REACHABLE", time.Second)
			var left *watchRecord
			w.mu.Lock()
			for _, rec := range w.recs {
				if rec.Kind == "transition" && rec.Node == "h1" && rec.IP == "192.0.2.2" && rec.Old == "REACHABLE" && rec.Time.Before(end) {
					left = &rec
					break
				}
			}
			w.mu.Unlock()
			w.stop(t)
			if confirm {
				// MSG_CONFIRM refreshes "confirmed" with every request: no
				// transition out of REACHABLE while the pings flow.
				if left != nil {
					t.Errorf("with --confirm the entry left REACHABLE: %s -> %s after %s; timeline:\n%s", left.Old, left.New, left.at()-reach.at(), w.timeline())
				}
				continue
			}
			// Plain IPv4 echo confirms nothing: STALE once the current draw r
			// ran out, late by at most the timer wheel's granularity.
			if left == nil || left.New != "STALE" {
				t.Fatalf("without --confirm the entry did not go REACHABLE -> STALE while pinging; timeline:\n%s", w.timeline())
			}
			if d := left.at() - reach.at(); d < r-jiffy || d > r+lateShort+2*jiffy+pollFast {
				t.Errorf("REACHABLE lasted %s, want [%s, %s]", d, r-jiffy, r+lateShort+2*jiffy+pollFast)
			}
		}
	})

	t.Run("tcp", func(t *testing.T) {
		server, err := netns.GetFromPath(netnsDir + "/" + ns2)
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()
		client, err := netns.GetFromPath(netnsDir + "/" + ns1)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, addr := range []string{"192.0.2.2", "2001:db8::2"} {
			const n = 3<<20 + 17
			res, err := probe.TCPFlow(ctx, server, client, probe.TCPOptions{Addr: netip.MustParseAddr(addr), Bytes: n})
			if err != nil {
				t.Fatal(err)
			}
			if res.BytesSent != n || res.BytesReceived != n || res.ThroughputBPS <= 0 {
				t.Errorf("tcp flow to %s: %+v", addr, res)
			}
		}
		res, err := probe.TCPFlow(ctx, server, client, probe.TCPOptions{Addr: netip.MustParseAddr("192.0.2.2"), Duration: 200 * time.Millisecond})
		if err != nil || res.BytesReceived == 0 || res.BytesReceived != res.BytesSent || res.DurationMS < 200 {
			t.Errorf("tcp flow for 200ms: %+v, %v", res, err)
		}
	})
}

// TestProbeBridge pings across a Linux bridge (labs/switch.yaml: h1 and h3
// behind sw's br0) for IPv4 and IPv6, with iputils as the witness, and
// arping gets h3's MAC through the bridge.
func TestProbeBridge(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "labs/switch.yaml", "probesw")
	l.up(t)
	checkPingAgrees(t, l.Name, "h1", "192.0.2.3", 3)
	checkPingAgrees(t, l.Name, "h1", "2001:db8::3", 3)
	var a arpingJSON
	decodeJSON(t, "arping", mustNetlab(t, "arping", l.Name, "h2", "192.0.2.3", "-I", "eth0", "-o", "json").stdout, &a)
	if a.Received != 1 || a.Replies[0].LLAddr != "02:00:00:00:01:03" {
		t.Errorf("arping across the bridge: %+v", a)
	}
}
