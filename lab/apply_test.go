package lab

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRun records what apply ran, with a fake exec in place of the kernel.
type fakeRun struct {
	mu       sync.Mutex
	started  []int // plan indices, in start order
	finished map[int]bool
	inFlight atomic.Int32
	peak     atomic.Int32
	failAt   int // plan index whose op fails (-1: none)
	index    map[*Op]int
	stageErr []string
	plan     *Plan
}

func newFakeRun(p *Plan, failAt int) *fakeRun {
	f := &fakeRun{finished: map[int]bool{}, failAt: failAt, index: map[*Op]int{}, plan: p}
	return f
}

func (f *fakeRun) exec(ctx context.Context, batch []Op) (int, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	for k, o := range batch {
		i := f.find(o)
		f.mu.Lock()
		// Every op of an earlier stage has finished before this one starts.
		for j := range i {
			if f.plan.Ops[j].Stage < o.Stage && !f.finished[j] {
				f.stageErr = append(f.stageErr, f.plan.Ops[j].String()+" unfinished when "+o.String()+" started")
			}
		}
		f.started = append(f.started, i)
		f.mu.Unlock()
		time.Sleep(20 * time.Microsecond) // let workers overlap
		if i == f.failAt {
			return k, errors.New("injected failure")
		}
		f.mu.Lock()
		f.finished[i] = true
		f.mu.Unlock()
	}
	return 0, nil
}

// find returns an op's plan index (ops are compared by their printed form
// and node, unique in these plans).
func (f *fakeRun) find(o Op) int {
	for i := range f.plan.Ops {
		if f.plan.Ops[i].Node == o.Node && f.plan.Ops[i].String() == o.String() && f.plan.Ops[i].Kind == o.Kind && f.plan.Ops[i].Index == o.Index && f.plan.Ops[i].Stage == o.Stage && f.plan.Ops[i].Addr == o.Addr && f.plan.Ops[i].Iface == o.Iface {
			return i
		}
	}
	panic("op not in plan: " + o.String())
}

func TestApplyParallelOrder(t *testing.T) {
	p := NewPlan(chainLab(t, "par", 40).Resolve())
	for _, workers := range []int{1, 3, 8} {
		f := newFakeRun(p, -1)
		var last Progress
		calls := 0
		a := &applier{opts: Options{Workers: workers, Progress: func(pr Progress) { last = pr; calls++ }}, exec: f.exec}
		if err := a.apply(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		if len(f.started) != len(p.Ops) {
			t.Fatalf("workers %d: ran %d ops, plan has %d", workers, len(f.started), len(p.Ops))
		}
		for _, e := range f.stageErr {
			t.Errorf("workers %d: %s", workers, e)
		}
		// Per node, plan order is kept.
		lastOf := map[string]int{}
		for _, i := range f.started {
			n := p.Ops[i].Node
			if j, ok := lastOf[n]; ok && j > i {
				t.Errorf("workers %d: node %s ran op %d after op %d", workers, n, i, j)
			}
			lastOf[n] = i
		}
		if got := int(f.peak.Load()); got > workers {
			t.Errorf("workers %d: %d ops ran at once", workers, got)
		}
		if workers > 1 && f.peak.Load() < 2 {
			t.Errorf("workers %d: nothing ran in parallel", workers)
		}
		if last.Done != len(p.Ops) || last.Total != len(p.Ops) || calls < len(p.Ops) {
			t.Errorf("workers %d: last progress %+v after %d calls; want %d/%d", workers, last, calls, len(p.Ops), len(p.Ops))
		}
	}
}

func TestApplyFirstFailureStops(t *testing.T) {
	p := NewPlan(chainLab(t, "fail", 30).Resolve())
	// Fail one address op; every later stage must not start, and the error
	// is the failing op's.
	failAt := -1
	for i, o := range p.Ops {
		if o.Kind == OpAddr && o.Node == "n7" {
			failAt = i
			break
		}
	}
	f := newFakeRun(p, failAt)
	a := &applier{opts: Options{Workers: 4}, exec: f.exec}
	err := a.apply(context.Background(), p)
	if err == nil || err.Error() != "injected failure" {
		t.Fatalf("apply = %v, want the injected failure", err)
	}
	for _, i := range f.started {
		if p.Ops[i].Stage > p.Ops[failAt].Stage {
			t.Errorf("%s (a later stage) ran after a failure", p.Ops[i].String())
		}
	}
}

func TestApplyInterrupted(t *testing.T) {
	p := NewPlan(chainLab(t, "intr", 10).Resolve())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := newFakeRun(p, -1)
	a := &applier{opts: Options{Workers: 2}, exec: f.exec}
	err := a.apply(ctx, p)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("apply with a cancelled context = %v, want context.Canceled", err)
	}
	if len(f.started) != 0 {
		t.Errorf("%d ops ran after the cancel", len(f.started))
	}
}
