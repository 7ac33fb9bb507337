package labtest

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/topology"
)

func TestTestPart(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"TestParallel", "parallel"},
		{"TestParallel/3", "parallel-3"},
		{"TestRouter/h1_to_h2#01", "router-h1-to-h2-01"},
		{"Test", ""},
		{"ExampleStart", "examplestart"},
		{"__x__", "x"},
	} {
		if got := testPart(c.in); got != c.want {
			t.Errorf("testPart(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUniqueName(t *testing.T) {
	const pid = 4194303 // the largest pid_max: the longest pid in base 36
	pid36 := strconv.FormatInt(pid, 36)
	for _, c := range []struct{ base, test string }{
		{"arp-aging", "TestParallelSameLab/0"},
		{"veth-pair", "Test"},
		{"x", strings.Repeat("TestVeryLongName", 5)},
		{"abcdefghijklmnopqrstuvwxyz-12345", "TestX"}, // 32 bytes: no room at all
		{"abcdefghijklmnopqrst-uvw", "TestX"},         // cut at a '-'
		{"a", "TestX"},
	} {
		name, suffix := uniqueName(c.base, c.test, pid, 12345)
		full := name + "-" + suffix
		if err := topology.CheckLabName(full); err != nil {
			t.Errorf("%s + %s: %q is not a lab name: %v", c.base, c.test, full, err)
		}
		if len(full) > topology.MaxNameLen {
			t.Errorf("%s + %s: %q is %d bytes", c.base, c.test, full, len(full))
		}
		if !strings.HasPrefix(c.base, name) || strings.HasSuffix(name, "-") || name == "" {
			t.Errorf("%s: name %q is not a clean prefix of the base", c.base, name)
		}
		if len(c.base)+1+len(pid36)+idLen <= topology.MaxNameLen && name != c.base {
			t.Errorf("%s: cut to %q although the id fits", c.base, name)
		}
		id := pid36 + randomPart(12345)
		if !strings.HasSuffix(suffix, id) {
			t.Errorf("%s + %s: suffix %q does not end in the id %q", c.base, c.test, suffix, id)
		}
		if p := testPart(c.test); p != "" && len(name)+1+len(p)+1+len(id) <= topology.MaxNameLen && !strings.HasPrefix(suffix, p+"-") {
			t.Errorf("%s + %s: suffix %q lacks the test part %q though it fits", c.base, c.test, suffix, p)
		}
	}
	// The test part is kept when there is room, cut when there is not.
	if _, s := uniqueName("arp-aging", "TestParallel/2", 35, 0); s != "parallel-2-z00000" {
		t.Errorf("suffix %q, want parallel-2-z00000 (pid 35 is z; random 0 is 00000)", s)
	}
	if _, s := uniqueName("arp-aging", "TestParallelSameLabFile", 35, 0); s != "parallelsamelab-z00000" {
		t.Errorf("suffix %q, want the test part cut to fit 32 bytes", s)
	}
	// Different random draws, different names; the same pid and draw, the same.
	a, _ := uniqueName("veth-pair", "TestX", 1, 1)
	_, sa := uniqueName("veth-pair", "TestX", 1, 1)
	_, sb := uniqueName("veth-pair", "TestX", 1, 2)
	_, sc := uniqueName("veth-pair", "TestX", 2, 1)
	if a != "veth-pair" || sa == sb || sa == sc {
		t.Errorf("suffixes %q %q %q should differ by pid and random part", sa, sb, sc)
	}
}

func TestRandomPart(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range []uint64{0, 1, 35, 36, 1 << 63, ^uint64(0)} {
		p := randomPart(r)
		if len(p) != idLen || strings.Trim(p, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
			t.Errorf("randomPart(%d) = %q", r, p)
		}
		seen[p] = true
	}
	if len(seen) != 6 {
		t.Errorf("six draws gave %d distinct parts", len(seen))
	}
}

// TestLoadRenamed: a lab loaded under another name resolves its namespaces
// under that name, and keeps everything else.
func TestLoadRenamed(t *testing.T) {
	file := filepath.Join("..", "labs", "router.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := load(file, data, topology.ValidateOptions{}, "")
	if err != nil {
		t.Fatal(err)
	}
	ren, err := load(file, data, topology.ValidateOptions{}, "rt")
	if err != nil {
		t.Fatal(err)
	}
	if orig.lab.Name != "router" || ren.lab.Name != "rt" {
		t.Fatalf("names %q, %q", orig.lab.Name, ren.lab.Name)
	}
	on, rn := orig.lab.Resolve().Nodes, ren.lab.Resolve().Nodes
	if len(on) != len(rn) || len(on) == 0 {
		t.Fatalf("%d nodes, renamed %d", len(on), len(rn))
	}
	for i := range on {
		if rn[i].Name != on[i].Name || rn[i].Netns != "rt-"+on[i].Name || len(rn[i].Ifaces) != len(on[i].Ifaces) {
			t.Errorf("node %s: renamed to %s in %s with %d interfaces, want %d", on[i].Name, rn[i].Name, rn[i].Netns, len(rn[i].Ifaces), len(on[i].Ifaces))
		}
	}
	// A name the validator refuses is reported as the file's problem.
	_, err = load(file, data, topology.ValidateOptions{}, "Bad")
	var te *topology.Error
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "router.yaml:") {
		t.Errorf("load as Bad: %v", err)
	}
}

func TestParseRouteQuery(t *testing.T) {
	for _, s := range []string{
		"198.51.100.10",
		"198.51.100.10 from 192.0.2.10 iif eth0",
		"2001:db8:1::10 oif eth0",
		"203.0.113.7 from 192.0.2.1 mark 0x2a",
	} {
		q, err := parseRouteQuery(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if q.String() != s {
			t.Errorf("%q parsed to %+v, which prints as %q", s, q, q.String())
		}
	}
	q, err := parseRouteQuery("  10.0.0.1   mark 42 ")
	if err != nil || q.Mark != 42 || q.To != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("decimal mark: %+v, %v", q, err)
	}
	for s, want := range map[string]string{
		"":                          "no destination",
		"eth0":                      "destination",
		"10.0.0.1 from":             "from needs a value",
		"10.0.0.1 from x":           "from:",
		"10.0.0.1 via 10.0.0.2":     `unknown keyword "via"`,
		"10.0.0.1 mark -1":          "mark:",
		"10.0.0.1 iif a iif b":      "iif given twice",
		"10.0.0.1 mark 0x100000000": "mark:",
	} {
		if _, err := parseRouteQuery(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", s, err, want)
		}
	}
}

func TestParseNeighAddr(t *testing.T) {
	for _, c := range []struct{ in, ip, dev string }{
		{"192.0.2.2", "192.0.2.2", ""},
		{"192.0.2.2%eth0", "192.0.2.2", "eth0"},
		{"fe80::1%eth0.1", "fe80::1", "eth0.1"},
		{"::ffff:192.0.2.2", "192.0.2.2", ""},
	} {
		ip, dev, err := parseNeighAddr(c.in)
		if err != nil || ip.String() != c.ip || dev != c.dev {
			t.Errorf("%q: %s %q %v; want %s %q", c.in, ip, dev, err, c.ip, c.dev)
		}
	}
	if _, _, err := parseNeighAddr("h2"); err == nil {
		t.Error("a host name parsed as an address")
	}
}

func TestSysctlKey(t *testing.T) {
	k, err := sysctlKey("net.ipv4.conf.eth0/1.rp_filter")
	if err != nil || k.Path != "net/ipv4/conf/eth0.1/rp_filter" {
		t.Errorf("dotted interface: %+v, %v", k, err)
	}
	for _, bad := range []string{"kernel.hostname", "net.ipv4.neigh.default.gc_thresh1", "net..x"} {
		if _, err := sysctlKey(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
