package lab

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/netlabdev/netlab/internal/labgen"
	"github.com/netlabdev/netlab/topology"
)

func chainLab(tb testing.TB, name string, n int) *topology.Lab {
	tb.Helper()
	l, err := topology.Parse(name+".yaml", []byte(labgen.Chain(name, n, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := l.Validate(topology.ValidateOptions{}); err != nil {
		tb.Fatal(err)
	}
	return l
}

// BenchmarkLoad is parse + validate + resolve of a chain lab.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100, 1000} {
		data := []byte(labgen.Chain("bench", n, nil))
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l, err := topology.Parse("bench.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.Validate(topology.ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
				l.Resolve()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
		})
	}
}

// BenchmarkPlan is NewPlan of a resolved chain lab.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{100, 1000} {
		t := chainLab(b, "bench", n).Resolve()
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NewPlan(t)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
		})
	}
}

// TestPlanMemoryPerNode checks that loading and planning a lab costs the
// same memory per node at 1000 nodes as at 100 (allocation counts and bytes
// are deterministic, unlike times): nothing in the data path grows faster
// than the lab.
func TestPlanMemoryPerNode(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	perNode := func(n int) (allocs, bytes float64) {
		data := []byte(labgen.Chain("mem", n, nil))
		res := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l, err := topology.Parse("mem.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.Validate(topology.ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
				NewPlan(l.Resolve())
			}
		})
		return float64(res.AllocsPerOp()) / float64(n), float64(res.AllocedBytesPerOp()) / float64(n)
	}
	a100, b100 := perNode(100)
	a1000, b1000 := perNode(1000)
	t.Logf("per node: %.0f allocs, %.0f bytes at 100 nodes; %.0f allocs, %.0f bytes at 1000 nodes", a100, b100, a1000, b1000)
	// Slices and maps grow by doubling, so per-node bytes wobble; a
	// quadratic term would be 10x here.
	if a1000 > 1.5*a100 || b1000 > 1.5*b100 {
		t.Errorf("memory per node grows with the lab: %.0f allocs/%.0f B at 1000 nodes vs %.0f/%.0f at 100", a1000, b1000, a100, b100)
	}
}

// BenchmarkUp brings a chain lab up and down through the kernel (root
// only; it skips otherwise). ns/node is the up's time per node; the down
// is outside the timer. Run with -benchtime=3x: each iteration makes
// hundreds of namespaces.
func BenchmarkUp(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates namespaces")
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			name := fmt.Sprintf("benchup%d-%d", n, os.Getpid())
			l := chainLab(b, name, n)
			opts := Options{StateDir: b.TempDir(), ReadyTimeout: -1}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Up(ctx, l, opts); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := Down(ctx, name, opts); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
		})
	}
}
