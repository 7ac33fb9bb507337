package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// cliNeighLab: two hosts on one veth; h1 has one permanent entry.
const cliNeighLab = `name: x
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24, 2001:db8::1/64], mac: "02:00:00:00:0c:01"}
    neighbors:
      - {to: 192.0.2.77, lladdr: "02:00:00:00:0c:77", dev: eth0}
  h2:
    interfaces:
      eth0: {addresses: [192.0.2.2/24, 2001:db8::2/64], mac: "02:00:00:00:0c:02"}
links:
  - endpoints: [h1:eth0, h2:eth0]
`

type cliEntry struct {
	Node   string `json:"node"`
	IP     string `json:"ip"`
	Dev    string `json:"dev"`
	LLAddr string `json:"lladdr"`
	State  string `json:"state"`
	Flags  struct {
		Router bool `json:"router"`
		Proxy  bool `json:"proxy"`
	} `json:"flags"`
	UpdatedAgoMS *int64 `json:"updated_ago_ms"`
}

// neighJSON runs `netlab neigh <lab> [node] -o json`.
func neighJSON(t *testing.T, args ...string) map[string]cliEntry {
	t.Helper()
	var out struct {
		Entries []cliEntry `json:"entries"`
	}
	decodeJSON(t, "neigh -o json", mustNetlab(t, append(append([]string{"neigh"}, args...), "-o", "json")...).stdout, &out)
	m := map[string]cliEntry{}
	for _, e := range out.Entries {
		if e.UpdatedAgoMS == nil {
			t.Errorf("entry %+v has no updated_ago_ms", e)
		}
		m[e.Node+" "+e.IP] = e
	}
	return m
}

// ipNeighState is h1's state for ip according to `ip -j neigh show`.
func ipNeighState(t *testing.T, ns, ip string) string {
	t.Helper()
	var list []struct {
		Dst   string   `json:"dst"`
		State []string `json:"state"`
	}
	ipJSON(t, &list, "-n", ns, "neigh", "show", "nud", "all")
	for _, e := range list {
		if e.Dst == ip {
			if len(e.State) == 0 {
				return "NONE"
			}
			return strings.Join(e.State, "|")
		}
	}
	return "ABSENT"
}

// TestNeighCLI drives `netlab neigh` list/add/set/use/flush/del against a
// live lab and checks each effect with `ip -j neigh show` (iproute2 as the
// independent witness): use moves a STALE entry to DELAY (NTF_USE), flush
// keeps PERMANENT entries, add of an existing entry fails (exit 1), bad
// names are usage errors (exit 2). Not parallel: neighbour state is timing
// sensitive and GC is global.
func TestNeighCLI(t *testing.T) {
	requireRoot(t)
	l := newLabText(t, cliNeighLab, "neighcli")
	l.up(t)
	ns1 := l.Name + "-h1"

	mustNetlab(t, "exec", l.Name, "h1", "--", "ping", "-c1", "-W2", "192.0.2.2")
	m := neighJSON(t, l.Name)
	if e := m["h1 192.0.2.2"]; e.State != "REACHABLE" || e.LLAddr != "02:00:00:00:0c:02" || e.Dev != "eth0" {
		t.Errorf("h1's entry for h2 after a ping: %+v", e)
	}
	if e := m["h2 192.0.2.1"]; e.State == "" {
		t.Errorf("h2 learnt no entry for h1 from the ARP request: %v", m)
	}
	if e := m["h1 192.0.2.77"]; e.State != "PERMANENT" {
		t.Errorf("static entry: %+v", e)
	}
	// One node only, and the text table.
	if one := neighJSON(t, l.Name, "h2"); len(one) == 0 || one["h1 192.0.2.2"].IP != "" {
		t.Errorf("neigh %s h2 lists other nodes' entries: %v", l.Name, one)
	}
	if out := mustNetlab(t, "neigh", l.Name, "h1").stdout; !strings.Contains(out, "192.0.2.2") || !strings.Contains(out, "REACHABLE") {
		t.Errorf("text list:\n%s", out)
	}

	// add: a STALE entry; adding it again fails (EEXIST, exit 1).
	mustNetlab(t, "neigh", l.Name, "h1", "add", "192.0.2.50", "--dev", "eth0", "--lladdr", "02:00:00:00:0c:50", "--state", "stale")
	if s := ipNeighState(t, ns1, "192.0.2.50"); s != "STALE" {
		t.Fatalf("after add --state stale, ip says %s", s)
	}
	if r := netlab(t, "neigh", l.Name, "h1", "add", "192.0.2.50", "--dev", "eth0", "--lladdr", "02:00:00:00:0c:50"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second add: want exit 1 and 'exists':\n%s", r)
	}
	// use: as if a packet was sent: STALE -> DELAY.
	mustNetlab(t, "neigh", l.Name, "h1", "use", "192.0.2.50", "--dev", "eth0")
	if s := ipNeighState(t, ns1, "192.0.2.50"); s != "DELAY" {
		t.Errorf("after use, ip says %s, want DELAY", s)
	}
	// set replaces: a new lladdr, permanent.
	mustNetlab(t, "neigh", l.Name, "h1", "set", "192.0.2.50", "--dev", "eth0", "--lladdr", "02:00:00:00:0c:51")
	if e := neighJSON(t, l.Name, "h1")["h1 192.0.2.50"]; e.State != "PERMANENT" || e.LLAddr != "02:00:00:00:0c:51" {
		t.Errorf("after set: %+v", e)
	}
	mustNetlab(t, "neigh", l.Name, "h1", "set", "192.0.2.50", "--dev", "eth0", "--lladdr", "02:00:00:00:0c:51", "--state", "stale")

	// flush: deletes the dynamic entries (h2's REACHABLE/STALE one and the
	// STALE .50), keeps the PERMANENT .77, and says what it deleted.
	var fl struct {
		Deleted []cliEntry `json:"deleted"`
	}
	decodeJSON(t, "flush", mustNetlab(t, "neigh", l.Name, "h1", "flush", "--dev", "eth0", "-o", "json").stdout, &fl)
	got := map[string]bool{}
	for _, e := range fl.Deleted {
		got[e.IP] = true
	}
	if !got["192.0.2.2"] || !got["192.0.2.50"] || got["192.0.2.77"] {
		t.Errorf("flush deleted %v, want 192.0.2.2 and 192.0.2.50 but not the permanent 192.0.2.77", fl.Deleted)
	}
	for ip, want := range map[string]string{"192.0.2.2": "ABSENT", "192.0.2.50": "ABSENT", "192.0.2.77": "PERMANENT"} {
		if s := ipNeighState(t, ns1, ip); s != want {
			t.Errorf("after flush, ip says %s is %s, want %s", ip, s, want)
		}
	}
	// del, and flush --all removes the permanent one too.
	mustNetlab(t, "neigh", l.Name, "h1", "add", "2001:db8::99", "--dev", "eth0", "--lladdr", "02:00:00:00:0c:99", "--router")
	if e := neighJSON(t, l.Name, "h1")["h1 2001:db8::99"]; !e.Flags.Router || e.State != "PERMANENT" {
		t.Errorf("router entry: %+v", e)
	}
	mustNetlab(t, "neigh", l.Name, "h1", "del", "2001:db8::99", "--dev", "eth0")
	if s := ipNeighState(t, ns1, "2001:db8::99"); s != "ABSENT" {
		t.Errorf("after del, ip says %s", s)
	}
	mustNetlab(t, "neigh", l.Name, "h1", "flush", "--all")
	if s := ipNeighState(t, ns1, "192.0.2.77"); s != "ABSENT" {
		t.Errorf("after flush --all, ip says the permanent entry is %s", s)
	}

	// Errors: unknown node (exit 2), unknown device (exit 1, named).
	if r := netlab(t, "neigh", l.Name, "nosuch"); r.code != 2 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("unknown node: %s", r)
	}
	if r := netlab(t, "neigh", l.Name, "h1", "add", "192.0.2.60", "--dev", "eth9", "--lladdr", "02:00:00:00:0c:60"); r.code != 1 || !strings.Contains(r.stderr, "eth9") {
		t.Errorf("unknown device: %s", r)
	}
	// params for a device the node lacks.
	if r := netlab(t, "neigh", l.Name, "h1", "params", "eth9"); r.code == 0 || !strings.Contains(r.stderr, "eth9") {
		t.Errorf("params of a missing device: %s", r)
	}
	var p json.RawMessage
	decodeJSON(t, "params", mustNetlab(t, "neigh", l.Name, "h1", "params", "-o", "json").stdout, &p)
}
