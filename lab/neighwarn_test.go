package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/topology"
)

// topoOf parses and validates an inline lab and returns it resolved.
func topoOf(t *testing.T, yaml string) *topology.Topo {
	t.Helper()
	l, err := topology.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if _, err := l.Validate(topology.ValidateOptions{}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return l.Resolve()
}

func TestDelayProbeWarning(t *testing.T) {
	v := func(base, delay int) *neighTiming { return &neighTiming{BaseMS: base, DelayS: delay} }
	cases := []struct {
		name      string
		got       neighTiming
		validated *neighTiming
		warn      string // "" = no warning; else a piece of it
	}{
		{"kernel defaults", neighTiming{30000, 5}, nil, ""},
		{"arp-aging: 1 s below 4 s/2", neighTiming{4000, 1}, nil, ""},
		{"just below half", neighTiming{4004, 2}, nil, ""},
		{"exactly half loops", neighTiming{4000, 2}, nil, "ipv4 delay_first_probe_time 2s >= base_reachable_time 4s/2"},
		{"5 s with base 4 s", neighTiming{4000, 5}, nil, "set net.ipv4.neigh.eth0.delay_first_probe_time below 2s"},
		{"jiffy-rounded base", neighTiming{3004, 5}, nil, "base_reachable_time 3.004s/2"},
		{"zero delay never loops", neighTiming{100, 0}, nil, ""},
		{"no base read", neighTiming{0, 5}, nil, ""},
		// Validation already warned with the same values: once is enough.
		{"validated, same values", neighTiming{4000, 5}, v(4000, 5), ""},
		{"validated, jiffy rounding", neighTiming{3004, 5}, v(3001, 5), ""},
		// The kernel holds something else than validation assumed (e.g. a
		// host default delay): say what the kernel holds.
		{"validated, other delay", neighTiming{4000, 3}, v(4000, 5), "delay_first_probe_time 3s"},
		{"validated, other base", neighTiming{5000, 5}, v(4000, 5), "base_reachable_time 5s/2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := delayProbeWarning("h1", "eth0", "ipv4", c.got, c.validated)
			switch {
			case c.warn == "" && w != "":
				t.Errorf("unexpected warning %q", w)
			case c.warn != "" && !strings.Contains(w, c.warn):
				t.Errorf("warning %q, want it to contain %q", w, c.warn)
			case c.warn != "" && !strings.HasPrefix(w, "node h1: eth0: ipv4 ") || c.warn != "" && !strings.Contains(w, "REACHABLE -> DELAY -> PROBE -> REACHABLE"):
				t.Errorf("warning %q does not name node, device, family and the loop", w)
			}
		})
	}
	// Dotted interface names are written with '/' in the key.
	if w := delayProbeWarning("r1", "eth0.5", "ipv6", neighTiming{4000, 5}, nil); !strings.Contains(w, "net.ipv6.neigh.eth0/5.delay_first_probe_time") {
		t.Errorf("dotted interface: %q", w)
	}
}

// validatedTiming mirrors topology's validate-time warning: both must agree
// on when it fires, or up would repeat (or drop) a warning.
func TestValidatedTimingMatchesValidation(t *testing.T) {
	cases := []struct {
		sysctls string
		want    *neighTiming
	}{
		{"net.ipv4.neigh.eth0.base_reachable_time_ms: 4000\n      net.ipv4.neigh.eth0.delay_first_probe_time: 5", &neighTiming{4000, 5}},
		{"net.ipv4.neigh.eth0.base_reachable_time_ms: 4000", &neighTiming{4000, 5}},
		{"net.ipv4.neigh.eth0.base_reachable_time_ms: 4000\n      net.ipv4.neigh.eth0.delay_first_probe_time: 1", nil},
		{"net.ipv4.neigh.eth0.base_reachable_time: 4\n      net.ipv4.neigh.eth0.delay_first_probe_time: 2", &neighTiming{4000, 2}},
		{"net.ipv4.neigh.eth0.delay_first_probe_time: 30", nil},
		{"net.ipv6.neigh.eth0.base_reachable_time_ms: 4000", nil},
		{"net.ipv4.neigh.eth0.gc_stale_time: 5", nil},
	}
	for _, c := range cases {
		l, err := topology.Parse("t.yaml", []byte("name: t\nnodes:\n  h1:\n    sysctls:\n      "+c.sysctls+"\n  h2: {}\nlinks:\n  - endpoints: [h1:eth0, h2:eth0]\n"))
		if err != nil {
			t.Fatal(err)
		}
		warns, err := l.Validate(topology.ValidateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		validateWarned := false
		for _, w := range warns {
			if strings.Contains(w.Msg, "delay_first_probe_time") {
				validateWarned = true
			}
		}
		got := validatedTiming(l.Resolve().Node("h1").Iface("eth0"))
		if (got != nil) != validateWarned || (got != nil) != (c.want != nil) || got != nil && *got != *c.want {
			t.Errorf("%s: validatedTiming = %+v (validation warned: %v), want %+v", c.sysctls, got, validateWarned, c.want)
		}
	}
}

func TestDeclaresNeigh(t *testing.T) {
	topo := topoOf(t, `name: t
nodes:
  h1:
    sysctls:
      net.ipv6.neigh.eth1.retrans_time_ms: 500
      net.ipv4.conf.eth0.rp_filter: 0
  h2: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
  - endpoints: [h1:eth1, h2:eth1]
`)
	h1 := topo.Node("h1")
	if declaresNeigh(h1, h1.Iface("eth0")) {
		t.Error("eth0 has only a conf key: no neigh sysctl declared")
	}
	if !declaresNeigh(h1, h1.Iface("eth1")) {
		t.Error("eth1 declares an ipv6 neigh key")
	}
}

func TestGCWarning(t *testing.T) {
	decl := []string{"h1:eth0 (5s)"}
	cases := []struct {
		name              string
		declared          []string
		thresh1, entries  int
		warn              bool
		entriesInWarnings string
	}{
		{"nothing declared", nil, 128, 3, false, ""},
		{"below gc_thresh1", decl, 128, 3, true, "(3 entries, all namespaces) is below gc_thresh1=128"},
		{"empty table", decl, 4096, 0, true, "(0 entries, all namespaces) is below gc_thresh1=4096"},
		{"gc_thresh1 0 (arp-aging-gc)", decl, 0, 0, false, ""},
		{"table at gc_thresh1 scans", decl, 128, 128, false, ""},
		{"table above gc_thresh1 scans", decl, 128, 500, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := gcWarning("ipv4", c.declared, c.thresh1, c.entries)
			if (w != "") != c.warn {
				t.Fatalf("warning %q, want one: %v", w, c.warn)
			}
			if !c.warn {
				return
			}
			for _, piece := range []string{"ipv4 gc_stale_time declared on h1:eth0 (5s)", "STALE entries will never be garbage-collected", c.entriesInWarnings, "host.sysctls net.ipv4.neigh.default.gc_thresh1: 0 (restored at down)"} {
				if !strings.Contains(w, piece) {
					t.Errorf("warning %q lacks %q", w, piece)
				}
			}
		})
	}
	if w := gcWarning("ipv6", []string{"a:e0 (1s)", "b:e1 (2s)"}, 128, 1); !strings.Contains(w, "a:e0 (1s), b:e1 (2s)") || !strings.Contains(w, "net.ipv6.neigh.default.gc_thresh1") {
		t.Errorf("ipv6 warning %q", w)
	}
}

func TestGCStaleDeclared(t *testing.T) {
	topo := topoOf(t, `name: t
nodes:
  h1:
    sysctls:
      net.ipv4.neigh.eth0.gc_stale_time: 5
      net.ipv6.neigh.eth0.gc_stale_time: 7
      net.ipv4.neigh.eth0.base_reachable_time_ms: 4000
  h2:
    sysctls:
      net.ipv4.neigh.eth0.gc_stale_time: 9
links:
  - endpoints: [h1:eth0, h2:eth0]
`)
	got := gcStaleDeclared(topo)
	if strings.Join(got["ipv4"], ",") != "h1:eth0 (5s),h2:eth0 (9s)" || strings.Join(got["ipv6"], ",") != "h1:eth0 (7s)" || len(got) != 2 {
		t.Errorf("gcStaleDeclared = %v", got)
	}
}

func TestGratuitousTargets(t *testing.T) {
	topo := topoOf(t, `name: t
nodes:
  sw: {kind: bridge}
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64]}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24]}
  h3:
    interfaces:
      eth0: {addresses: [192.0.2.3/25]}
      eth1: {addresses: [198.51.100.3/24]}
  h4:
    interfaces:
      eth0: {addresses: [192.0.2.200/25]}
  h5:
    interfaces:
      eth0: {addresses: [192.0.2.5/24]}
links:
  - endpoints: [h1:eth0, sw:p1]
  - endpoints: [h2:eth0, sw:p2]
  - endpoints: [h3:eth0, sw:p3]
  - endpoints: [h4:eth0, sw:p4]
  - endpoints: [h5:eth0, sw:p5]
  - endpoints: [h3:eth1, h5:eth1]
scenario:
  - arping: {from: h2, dev: eth0, to: 192.0.2.100, mode: gratuitous}
  - arping: {from: h2, dev: eth0, to: 192.0.2.1, mode: request}
  - sysctl: {node: h5, key: net.ipv4.conf.all.arp_accept, value: 1}
  - arping: {from: h1, dev: eth0, to: 192.0.2.2, mode: gratuitous}
  - arping: {from: h2, dev: eth0, to: 192.0.2.100, mode: gratuitous}
`)
	var got []string
	for _, g := range gratuitousTargets(topo) {
		got = append(got, g.From+">"+g.Node+":"+g.Dev+"@"+g.IP.String())
	}
	// Step 0 (192.0.2.100 from h2): h1 (/24), h3 (/25 holds .100), h5 (/24);
	// not h2 (the sender), not h4 (.128/25). Step 1 is a request. Step 3
	// (192.0.2.2 from h1): h3 and h1 are done already, h5's arp_accept was
	// changed by step 2, h2 owns the address. Step 4 repeats step 0.
	want := []string{"h2>h1:eth0@192.0.2.100", "h2>h3:eth0@192.0.2.100", "h2>h5:eth0@192.0.2.100"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("gratuitousTargets = %v, want %v", got, want)
	}
}

func TestArpAcceptWarning(t *testing.T) {
	g := garpTarget{Step: 3, From: "h2", IP: netip.MustParseAddr("192.0.2.100"), Node: "h1", Dev: "eth0"}
	cases := []struct {
		all, dev int
		warn     bool
	}{
		{0, 0, true},
		{1, 0, false}, // effective = max(all, dev)
		{0, 1, false},
		{2, 0, false}, // same subnet: creates
		{0, 2, false},
	}
	for _, c := range cases {
		w := arpAcceptWarning(g, c.all, c.dev)
		if (w != "") != c.warn {
			t.Errorf("all=%d dev=%d: warning %q, want one: %v", c.all, c.dev, w, c.warn)
			continue
		}
		if c.warn {
			for _, piece := range []string{"scenario[3]", "192.0.2.100 from h2", "node h1: eth0", "effective arp_accept is 0 (max(all=0, eth0=0))", "creates none", "net.ipv4.conf.eth0.arp_accept"} {
				if !strings.Contains(w, piece) {
					t.Errorf("warning %q lacks %q", w, piece)
				}
			}
		}
	}
}
