package labgen

import (
	"testing"

	"github.com/netlabdev/netlab/topology"
)

func TestChainValidates(t *testing.T) {
	for _, n := range []int{2, 3, 251, 1000} {
		src := Chain("gen", n, map[string]string{"net.ipv4.neigh.default.gc_interval": "31"})
		l, err := topology.Parse("gen.yaml", []byte(src))
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if _, err := l.Validate(topology.ValidateOptions{}); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		tp := l.Resolve()
		if len(tp.Nodes) != n || len(tp.Links) != n-1 || len(tp.HostSysctls) != 1 {
			t.Errorf("n=%d: %d nodes, %d links, %d host sysctls", n, len(tp.Nodes), len(tp.Links), len(tp.HostSysctls))
		}
	}
}
