package lab

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// DefaultWorkers is how many nodes Up works on at once when Options.Workers
// is 0: twice the usable CPUs. Most of a node's work is in the kernel
// (namespace creation, rtnl, /proc/sys), so one worker per CPU leaves CPUs
// idle while others wait on the kernel's locks; scripts/bench measured more
// workers than that as no faster on a 2-CPU machine.
func DefaultWorkers() int { return 2 * runtime.GOMAXPROCS(0) }

// Progress is a snapshot of Up's progress, given to Options.Progress.
type Progress struct {
	// Done and Total count plan operations.
	Done, Total int
	// Stage names what is being made now (e.g. "namespaces").
	Stage string
}

// stageName names a plan stage by its first operation's kind.
func stageName(k OpKind) string {
	switch k {
	case OpNetns, OpSysctl:
		return "namespaces"
	case OpVeth:
		return "veth pairs"
	case OpBridge, OpMaster, OpBridgeMTU:
		return "bridges"
	case OpQdisc:
		return "traffic control"
	case OpAddr:
		return "addresses"
	case OpLinkUp:
		return "links up"
	case OpNeigh:
		return "neighbours"
	case OpRoute, OpRule:
		return "routes and rules"
	case OpFirewall:
		return "firewall"
	case OpHostSysctl:
		return "host knobs"
	}
	return "operations"
}

// apply runs the plan stage by stage. Inside a stage each node's operations
// run in plan order on one worker, and up to Workers nodes run at once; a
// stage starts only when the one before it is complete. The first failure
// (in plan order) is returned and stops the rest; what was made is then
// removed by the caller's rollback.
func (a *applier) apply(ctx context.Context, p *Plan) error {
	workers := a.opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers()
	}
	var done atomic.Int64
	total := len(p.Ops)
	for lo := 0; lo < total; {
		hi := lo + 1
		for hi < total && p.Ops[hi].Stage == p.Ops[lo].Stage {
			hi++
		}
		name := stageName(p.Ops[lo].Kind)
		a.report(Progress{Done: int(done.Load()), Total: total, Stage: name})
		if err := a.applyStage(ctx, p.Ops[lo:hi], workers, func() {
			a.report(Progress{Done: int(done.Add(1)), Total: total, Stage: name})
		}); err != nil {
			return err
		}
		lo = hi
	}
	a.report(Progress{Done: total, Total: total, Stage: "done"})
	return nil
}

// report passes progress to Options.Progress, one call at a time.
func (a *applier) report(p Progress) {
	if a.opts.Progress == nil {
		return
	}
	a.progressMu.Lock()
	defer a.progressMu.Unlock()
	a.opts.Progress(p)
}

// applyStage runs one stage's operations: grouped by node, nodes in
// parallel.
func (a *applier) applyStage(ctx context.Context, ops []Op, workers int, step func()) error {
	var order []string
	groups := map[string][]int{} // a node's ops: their indices in the stage, in plan order
	for i, o := range ops {
		if _, ok := groups[o.Node]; !ok {
			order = append(order, o.Node)
		}
		groups[o.Node] = append(groups[o.Node], i)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type failure struct {
		at  int
		err error
	}
	var (
		mu    sync.Mutex
		first *failure
	)
	parallel(ctx, len(order), workers, func(i int) {
		at, err := a.runNode(ctx, ops, groups[order[i]], step)
		if err == nil {
			return
		}
		mu.Lock()
		// After a failure, the other nodes stop with context.Canceled: a
		// consequence, not a failure of their own.
		if first == nil || (at < first.at && !errors.Is(err, context.Canceled)) {
			first = &failure{at, err}
		}
		mu.Unlock()
		cancel()
	})
	if first != nil {
		return first.err
	}
	// Only a failure cancels the stage's context: anything else is the
	// caller's (a signal) before a node started.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted before %q: %w", ops[0].String(), err)
	}
	return nil
}

// parallel calls fn(0) .. fn(n-1) on at most workers goroutines and returns
// when every call has returned. Once ctx is done it hands out no more.
func parallel(ctx context.Context, n, workers int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
}

// runNode runs one node's operations of a stage in order; consecutive
// sysctls go to the kernel as one batch. It returns the failing op's index.
func (a *applier) runNode(ctx context.Context, ops []Op, idx []int, step func()) (int, error) {
	exec := a.exec
	if exec == nil {
		exec = a.execOps
	}
	for k := 0; k < len(idx); {
		o := ops[idx[k]]
		if err := ctx.Err(); err != nil {
			return idx[k], fmt.Errorf("interrupted before %q: %w", o.String(), err)
		}
		// A namespace and the node's sysctls that follow it, or a run of
		// sysctls, go to the kernel together: one switch into the namespace.
		end := k + 1
		for (o.Kind == OpSysctl || o.Kind == OpNetns) && end < len(idx) && ops[idx[end]].Kind == OpSysctl {
			end++
		}
		batch := make([]Op, 0, end-k)
		for _, i := range idx[k:end] {
			batch = append(batch, ops[i])
		}
		if bad, err := exec(ctx, batch); err != nil {
			return idx[k+bad], err
		}
		for range batch {
			step()
		}
		k = end
	}
	return 0, nil
}

// execOps applies one op, a namespace with the node's sysctls, or a batch
// of one node's consecutive sysctls; it returns the index in batch of the
// op that failed.
func (a *applier) execOps(ctx context.Context, batch []Op) (int, error) {
	switch batch[0].Kind {
	case OpSysctl:
		return a.sysctls(batch)
	case OpNetns:
		return a.createNetns(batch[0], batch[1:])
	}
	a.opts.log().Debug("apply", "op", batch[0].String())
	return 0, a.do(ctx, batch[0])
}
