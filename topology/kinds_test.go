package topology

import (
	"strings"
	"testing"
)

// TestNoKernelModuleKinds: the lab format cannot ask for a device that
// needs a kernel module this project's kernels lack (8021q, vrf, dummy,
// bonding, macvlan): such a kind is refused by Validate (exit 2, before
// anything is created), and a dotted interface name like eth0.10 is a veth
// link end, not a VLAN device. So no preflight for those modules is needed;
// the kinds the format has (veth, bridge, lo) are checked by up's preflight.
func TestNoKernelModuleKinds(t *testing.T) {
	validate := func(src string) error {
		t.Helper()
		l, err := Parse("t.yaml", []byte(src))
		if err != nil {
			return err
		}
		_, err = l.Validate(ValidateOptions{})
		return err
	}
	for _, kind := range []string{"vlan", "8021q", "vrf", "dummy", "bond", "macvlan"} {
		err := validate("name: t\nnodes:\n  h1:\n    interfaces:\n      x0: {kind: " + kind + "}\n")
		if err == nil || !strings.Contains(err.Error(), `unknown interface kind "`+kind+`"`) {
			t.Errorf("interface kind %s: want an unknown-kind error, got %v", kind, err)
		}
		err = validate("name: t\nnodes:\n  h1: {kind: " + kind + "}\n")
		if err == nil {
			t.Errorf("node kind %s: accepted", kind)
		}
	}
	if err := validate("name: t\nvlans: [10]\nnodes:\n  h1: {}\n"); err == nil {
		t.Error("a top-level vlans key was accepted")
	}
	l, err := Parse("t.yaml", []byte("name: t\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth0.10, b:eth0]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Validate(ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range l.Resolve().Nodes {
		for _, i := range n.Ifaces {
			if i.Kind != IfVeth && i.Kind != IfLo && i.Kind != IfBridge {
				t.Errorf("%s:%s resolves to kind %q", n.Name, i.Name, i.Kind)
			}
			if i.Name == "eth0.10" {
				found = true
				if i.Kind != IfVeth {
					t.Errorf("a:eth0.10 is %q, want a veth", i.Kind)
				}
			}
		}
	}
	if !found {
		t.Error("a:eth0.10 not resolved")
	}
}
