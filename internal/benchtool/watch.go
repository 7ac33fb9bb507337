package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// watchResult is the neigh watch observation.
type watchResult struct {
	Nodes int `json:"nodes"`
	// Idle: a watch over every node while nothing happens.
	IdleWindowMS  int64   `json:"idle_window_ms"`
	IdleCPUMS     int64   `json:"idle_cpu_ms"`
	IdleCPUPerSec float64 `json:"idle_cpu_per_sec"`
	ReadyMS       int64   `json:"ready_ms"` // start until "ready"
	StartupCPUMS  int64   `json:"startup_cpu_ms"`
	RSSBytes      int64   `json:"peak_rss_bytes"`
	IdleRecords   int     `json:"idle_transitions"` // non-initial transitions seen while idle
	// Burst: Burst permanent entries added in one node at once, then
	// deleted at once, while the watch runs.
	Burst       int    `json:"burst"`
	BurstNode   string `json:"burst_node"`
	AddsSeen    int    `json:"adds_seen"`
	DeletesSeen int    `json:"deletes_seen"`
	Gaps        int    `json:"gaps"`
	AddMS       int64  `json:"add_batch_ms"`
	DeleteMS    int64  `json:"delete_batch_ms"`
	Err         string `json:"error,omitempty"`
}

// watchRecord is the part of a `neigh watch -o jsonl` line the bench reads.
type watchRecord struct {
	Kind   string `json:"kind"`
	Node   string `json:"node"`
	IP     string `json:"ip"`
	Old    string `json:"old"`
	New    string `json:"new"`
	Source string `json:"source"`
}

// watchProc is a running `netlab neigh watch`.
type watchProc struct {
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	ready   chan struct{}
	readyAt time.Time
	start   time.Time
	stderr  bytes.Buffer
	mu      sync.Mutex
	done    chan struct{}
}

// startWatch starts `netlab neigh watch lab -o jsonl --duration d` (every
// node) and returns once it says it is ready (or fails).
func (b *bench) startWatch(ctx context.Context, lab string, d time.Duration) (*watchProc, error) {
	w := &watchProc{ready: make(chan struct{}), done: make(chan struct{})}
	w.cmd = exec.CommandContext(ctx, b.cfg.netlab, "neigh", "watch", lab, "-o", "jsonl", "--duration", d.String())
	w.cmd.Stdout = &w.stdout
	pr, pw := io.Pipe()
	w.cmd.Stderr = pw
	w.cmd.Cancel = func() error { return w.cmd.Process.Signal(syscall.SIGINT) }
	w.cmd.WaitDelay = 10 * time.Second
	w.start = time.Now()
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("neigh watch %s: %w", lab, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			w.mu.Lock()
			w.stderr.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			if !once && strings.Contains(sc.Text(), ": ready") {
				once = true
				w.readyAt = time.Now()
				close(w.ready)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		w.cmd.Wait()
		pw.Close()
		close(w.done)
	}()
	select {
	case <-w.ready:
		return w, nil
	case <-w.done:
		return nil, fmt.Errorf("neigh watch %s ended before it was ready: %s%s", lab, w.cmd.ProcessState, tail(w.errText()))
	case <-time.After(2 * time.Minute):
		w.cmd.Process.Kill()
		<-w.done
		return nil, fmt.Errorf("neigh watch %s: not ready after 2m%s", lab, tail(w.errText()))
	}
}

func (w *watchProc) errText() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.stderr.Bytes())
}

// records parses the JSONL the watch printed.
func (w *watchProc) records() ([]watchRecord, error) {
	var out []watchRecord
	sc := bufio.NewScanner(bytes.NewReader(w.stdout.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r watchRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return out, fmt.Errorf("neigh watch output: %q: %w", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// watchObservation brings a chain of cfg.watchNodes nodes up and measures a
// watch over all of them: idle CPU per second (after it is ready), and a
// burst of cfg.burst entries added and then deleted at once in n1.
func (b *bench) watchObservation(ctx context.Context) (*watchResult, error) {
	n := b.cfg.watchNodes
	res := &watchResult{Nodes: n, Burst: b.cfg.burst, BurstNode: "n1"}
	t, err := chainTopo(fmt.Sprintf("bench%s-w%d", b.tok, n), n)
	if err != nil {
		return res, err
	}
	file, err := b.writeFile(t.Name+".yaml", t.labYAML())
	if err != nil {
		return res, err
	}
	defer b.ensureDown(t.Name)
	if _, err := b.netlabUp(ctx, file, b.pingArgs); err != nil {
		return res, err
	}

	// Idle.
	w, err := b.startWatch(ctx, t.Name, b.cfg.watchIdle)
	if err != nil {
		return res, err
	}
	res.ReadyMS = w.readyAt.Sub(w.start).Milliseconds()
	cpuReady, cerr := procCPU(w.cmd.Process.Pid)
	<-w.done
	end := time.Now()
	if cerr != nil {
		return res, cerr
	}
	if w.cmd.ProcessState == nil || !w.cmd.ProcessState.Success() {
		return res, fmt.Errorf("neigh watch %s: %v%s", t.Name, w.cmd.ProcessState, tail(w.errText()))
	}
	total, rss := usage(w.cmd.ProcessState)
	window := end.Sub(w.readyAt)
	res.IdleWindowMS = window.Milliseconds()
	res.StartupCPUMS = cpuReady.Milliseconds()
	res.IdleCPUMS = (total - cpuReady).Milliseconds()
	res.IdleCPUPerSec = (total - cpuReady).Seconds() / window.Seconds()
	res.RSSBytes = rss
	recs, err := w.records()
	if err != nil {
		return res, err
	}
	for _, r := range recs {
		if r.Kind == "transition" && r.Source != "initial" {
			res.IdleRecords++
		}
	}
	b.logf("watch %d nodes idle: %.4f CPU-s/s over %s (ready after %dms)", n, res.IdleCPUPerSec, fmtDur(window), res.ReadyMS)

	// Burst.
	if b.cfg.burst <= 0 {
		return res, nil
	}
	ns := t.Name + "-n1"
	addrs, add, del := burstBatches(b.cfg.burst)
	addTxt, err := batchText(add)
	if err != nil {
		return res, err
	}
	delTxt, err := batchText(del)
	if err != nil {
		return res, err
	}
	addFile, err := b.writeFile("burst-add.batch", addTxt)
	if err != nil {
		return res, err
	}
	delFile, err := b.writeFile("burst-del.batch", delTxt)
	if err != nil {
		return res, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err = b.startWatch(wctx, t.Name, 10*time.Minute)
	if err != nil {
		return res, err
	}
	sa, _, err := runProc(ctx, command(ctx, "ip", "-n", ns, "-batch", addFile))
	res.AddMS = sa.Wall.Milliseconds()
	if err == nil {
		time.Sleep(time.Second)
		var sd sample
		sd, _, err = runProc(ctx, command(ctx, "ip", "-n", ns, "-batch", delFile))
		res.DeleteMS = sd.Wall.Milliseconds()
		time.Sleep(1500 * time.Millisecond)
	}
	cancel() // SIGINT: the watch prints its summary and exits
	<-w.done
	if err != nil {
		return res, err
	}
	recs, rerr := w.records()
	if rerr != nil {
		return res, rerr
	}
	res.AddsSeen, res.DeletesSeen, res.Gaps = countBurst(recs, "n1", addrs)
	b.logf("watch burst of %d in n1: %d adds, %d deletes seen, %d gap(s)", b.cfg.burst, res.AddsSeen, res.DeletesSeen, res.Gaps)
	return res, nil
}

// burstBatches is n permanent neighbour entries on n1's eth1
// (172.16.0.1, 172.16.0.2, ...): their addresses, and the ip batch
// commands that add and delete them all.
func burstBatches(n int) (map[netip.Addr]bool, [][]string, [][]string) {
	addrs := make(map[netip.Addr]bool, n)
	var add, del [][]string
	base := netip.AddrFrom4([4]byte{172, 16, 0, 0})
	for i := 1; i <= n; i++ {
		a := addIP(base, uint32(i))
		addrs[a] = true
		mac := fmt.Sprintf("02:be:00:00:%02x:%02x", (i>>8)&0xff, i&0xff)
		add = append(add, []string{"neigh", "add", a.String(), "lladdr", mac, "dev", "eth1", "nud", "permanent"})
		del = append(del, []string{"neigh", "del", a.String(), "dev", "eth1"})
	}
	return addrs, add, del
}

// countBurst counts the burst entries of node seen becoming PERMANENT and,
// after that, seen becoming ABSENT, each entry once; and the gaps.
func countBurst(recs []watchRecord, node string, addrs map[netip.Addr]bool) (adds, dels, gaps int) {
	added := map[netip.Addr]bool{}
	deleted := map[netip.Addr]bool{}
	for _, r := range recs {
		if r.Kind == "gap" {
			gaps++
			continue
		}
		if r.Kind != "transition" || r.Node != node || r.Source == "initial" {
			continue
		}
		a, err := netip.ParseAddr(r.IP)
		if err != nil || !addrs[a] {
			continue
		}
		// A deleted permanent entry shows as PERMANENT -> FAILED ->
		// ABSENT (the kernel's two notifications).
		switch {
		case r.New == "PERMANENT" && r.Old != "PERMANENT":
			added[a] = true
		case r.New == "ABSENT" && added[a]:
			deleted[a] = true
		}
	}
	return len(added), len(deleted), gaps
}
