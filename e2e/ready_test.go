package e2e

import (
	"strings"
	"testing"
)

// TestUpWaitsForOperstate: the kernel's linkwatch marks veths (and so bridge
// ports and bridges) operationally up up to about a second after they are
// set up; until then a bridge drops frames and the first ARP request is lost
// (costing retrans_time, 1 s). `up` waits for that by default, so every
// declared-up interface is UP the moment it returns; --wait 0 returns at once.
func TestUpWaitsForOperstate(t *testing.T) {
	requireRoot(t)
	l := newLab(t, "labs/switch.yaml", "ready")
	l.up(t)
	var st struct {
		Nodes []struct {
			Name       string `json:"name"`
			Interfaces []struct {
				Name  string `json:"name"`
				Kind  string `json:"kind"`
				State string `json:"state"`
			} `json:"interfaces"`
		} `json:"nodes_detail"`
	}
	decodeJSON(t, "status", mustNetlab(t, "status", "-o", "json", l.Name).stdout, &st)
	n := 0
	for _, node := range st.Nodes {
		for _, i := range node.Interfaces {
			if i.Kind == "veth" || i.Kind == "bridge" {
				n++
				if i.State != "UP" {
					t.Errorf("right after up, %s:%s (%s) is %s, want UP", node.Name, i.Name, i.Kind, i.State)
				}
			}
		}
	}
	if n != 7 { // 3 host ends, 3 switch ports, 1 bridge
		t.Errorf("checked %d veth/bridge interfaces, want 7", n)
	}
	r := mustNetlab(t, "up", "-o", "json", "--wait", "0", newLab(t, "labs/switch.yaml", "nowait").File)
	if !strings.Contains(r.stdout, `"ready_ms": 0`) {
		t.Errorf("--wait 0 should not wait: %s", r)
	}
}
