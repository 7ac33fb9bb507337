package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netlabdev/netlab/internal/labgen"
)

// TestReadyAtScale brings up a 300-node chain with the default --wait and
// checks that its 598 veth ends are operationally up at once. The kernel's
// linkwatch treats a veth's carrier change as urgent only when the two ends
// have different interface indexes; otherwise it turns carriers on in
// batches of at most 100 devices about a second apart, which would take
// more than 5 s here. netlab gives link k's A end index 2^20+k, so the ends
// never match (ip -j link is the witness).
func TestReadyAtScale(t *testing.T) {
	requireRoot(t)
	const nodes = 300
	name := labName(t, "ready")
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(labgen.Chain(name, nodes, nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupDown(t, name) })
	start := time.Now()
	var up struct {
		Warnings []string `json:"warnings"`
		ReadyMS  int64    `json:"ready_ms"`
	}
	decodeJSON(t, "up", mustNetlab(t, "up", file, "-o", "json").stdout, &up)
	t.Logf("up of %d nodes: %v, links operationally up %d ms after the last operation", nodes, time.Since(start).Round(time.Millisecond), up.ReadyMS)
	if len(up.Warnings) > 0 {
		t.Errorf("warnings: %v", up.Warnings)
	}
	// Urgent linkwatch events are handled at once (13 ms measured here);
	// non-urgent ones wait for the next of the one-second batches (1.8 s
	// measured here with the indexes left to the kernel).
	if up.ReadyMS >= 1000 {
		t.Errorf("links took %d ms to be operationally up; urgent linkwatch events take well under a second", up.ReadyMS)
	}
	for i := range nodes - 1 {
		a := ipLinks(t, fmt.Sprintf("%s-n%d", name, i))
		b := ipLinks(t, fmt.Sprintf("%s-n%d", name, i+1))
		var e, w ipLink
		for _, l := range a {
			if l.IfName == "e" {
				e = l
			}
		}
		for _, l := range b {
			if l.IfName == "w" {
				w = l
			}
		}
		if e.IfIndex != 1<<20+i || e.LinkIndex != w.IfIndex || w.LinkIndex != e.IfIndex || e.IfIndex == w.IfIndex || e.OperState != "UP" || w.OperState != "UP" {
			t.Fatalf("link %d: n%d:e index %d (peer %d, %s), n%d:w index %d (peer %d, %s); want e at %d, distinct indexes, both UP",
				i, i, e.IfIndex, e.LinkIndex, e.OperState, i+1, w.IfIndex, w.LinkIndex, w.OperState, 1<<20+i)
		}
	}
}
