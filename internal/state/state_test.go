package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNewDefaultDir(t *testing.T) {
	if got := New("").Dir; got != DefaultDir {
		t.Errorf("New(\"\").Dir = %q, want %q", got, DefaultDir)
	}
	if got := New("/x").Dir; got != "/x" {
		t.Errorf("New(/x).Dir = %q", got)
	}
}

func TestJournalMissingIsEmpty(t *testing.T) {
	s := New(t.TempDir())
	recs, err := s.Journal("nolab")
	if err != nil || recs != nil {
		t.Fatalf("Journal of a lab without state = %v, %v; want nil, nil", recs, err)
	}
}

func TestAppendJournalRoundtrip(t *testing.T) {
	s := New(t.TempDir())
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	in := []Record{
		{Time: t0, Op: OpBegin, RunID: "r1", File: "/labs/a.yaml"},
		{Time: t0.Add(time.Second), Op: OpNetns, Name: "a-h1", Node: "h1", RunID: "r1"},
		{Time: t0.Add(2 * time.Second), Op: OpHostKnob, Name: "net/ipv4/neigh/default/gc_interval"},
		{Op: OpUp, RunID: "r1"}, // zero time: Append stamps it
	}
	before := time.Now().UTC()
	for _, r := range in {
		if err := s.Append("a", r); err != nil {
			t.Fatalf("Append(%+v): %v", r, err)
		}
	}
	after := time.Now().UTC()
	out, err := s.Journal("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("Journal returned %d records, want %d: %+v", len(out), len(in), out)
	}
	for i := range in[:3] {
		if !out[i].Time.Equal(in[i].Time) || out[i].Op != in[i].Op || out[i].Name != in[i].Name ||
			out[i].Node != in[i].Node || out[i].RunID != in[i].RunID || out[i].File != in[i].File {
			t.Errorf("record %d = %+v, want %+v", i, out[i], in[i])
		}
	}
	if last := out[3]; last.Op != OpUp || last.Time.Before(before) || last.Time.After(after) {
		t.Errorf("zero-time record came back as %+v; want its time stamped between %v and %v", last, before, after)
	}
	// One JSON object per line, newline-terminated.
	b, err := os.ReadFile(filepath.Join(s.LabDir("a"), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(in) || !strings.HasSuffix(string(b), "\n") {
		t.Errorf("journal file is not %d newline-terminated lines:\n%s", len(in), b)
	}
	for _, ln := range lines {
		if !json.Valid([]byte(ln)) {
			t.Errorf("journal line is not JSON: %q", ln)
		}
	}
}

func TestJournalIgnoresTornLastLine(t *testing.T) {
	s := New(t.TempDir())
	for _, op := range []string{OpBegin, OpNetns} {
		if err := s.Append("a", Record{Op: op, Name: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(s.LabDir("a"), "journal.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A crash mid-write leaves half a record without its newline.
	if _, err := f.WriteString(`{"time":"2024-01-01T00:00:00Z","op":"net`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	recs, err := s.Journal("a")
	if err != nil {
		t.Fatalf("Journal with a torn last line: %v", err)
	}
	var ops []string
	for _, r := range recs {
		ops = append(ops, r.Op)
	}
	if want := []string{OpBegin, OpNetns}; !slices.Equal(ops, want) {
		t.Errorf("ops = %v, want %v", ops, want)
	}
}

// After a crash left a torn last line, the next Append must start on a
// fresh line: written straight after the fragment, the new fsynced record
// and the fragment would form one unparseable line and Journal would drop a
// record that Append reported as written.
func TestAppendAfterTornLineKeepsRecord(t *testing.T) {
	s := New(t.TempDir())
	if err := s.Append("a", Record{Op: OpBegin, RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.LabDir("a"), "journal.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2024-01-01T00:00:00Z","op":"net`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := s.Append("a", Record{Op: OpDownBegin}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Journal("a")
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range recs {
		ops = append(ops, r.Op)
	}
	if want := []string{OpBegin, OpDownBegin}; !slices.Equal(ops, want) {
		t.Errorf("ops = %v, want %v: the record appended after a torn line was lost", ops, want)
	}
}

func TestSaveIsAtomicAndVersioned(t *testing.T) {
	s := New(t.TempDir())
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := &Snapshot{
		Version: 0, // Save sets it
		Lab:     "a", RunID: "r1", File: "/labs/a.yaml", Phase: "creating", Created: created,
		Namespaces: []Namespace{{Node: "h1", Name: "a-h1"}},
		HostKnobs:  []string{"net/ipv4/neigh/default/gc_interval"},
		Links:      []LinkRecord{{A: "h1:eth0", B: "h2:eth0"}},
	}
	if err := s.Save(snap); err != nil {
		t.Fatal(err)
	}
	if snap.Version != Version {
		t.Errorf("Save left snap.Version = %d, want %d", snap.Version, Version)
	}
	snap.Phase = "up"
	snap.Namespaces = append(snap.Namespaces, Namespace{Node: "h2", Name: "a-h2"})
	if err := s.Save(snap); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(s.LabDir("a"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"state.json"}) {
		t.Errorf("lab dir holds %v after two saves; want only state.json (no temp files)", names)
	}
	raw, err := os.ReadFile(filepath.Join(s.LabDir("a"), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk map[string]any
	if err := json.Unmarshal(raw, &onDisk); err != nil {
		t.Fatalf("state.json is not JSON: %v", err)
	}
	if v, ok := onDisk["version"].(float64); !ok || int(v) != Version {
		t.Errorf("state.json version = %v, want %d", onDisk["version"], Version)
	}
	got, err := s.Load("a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Phase != "up" || got.RunID != "r1" || !got.Created.Equal(created) || len(got.Namespaces) != 2 ||
		got.Namespaces[1] != (Namespace{Node: "h2", Name: "a-h2"}) || !slices.Equal(got.HostKnobs, snap.HostKnobs) ||
		!slices.Equal(got.Links, snap.Links) || got.Version != Version {
		t.Errorf("Load = %+v, want the second save %+v", got, snap)
	}
	if fi, err := os.Stat(filepath.Join(s.LabDir("a"), "state.json")); err == nil && fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("state.json mode %v is readable by others", fi.Mode().Perm())
	}
}

func TestSaveFailureLeavesOldSnapshot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	s := New(t.TempDir())
	if err := s.Save(&Snapshot{Lab: "a", RunID: "old", Phase: "up"}); err != nil {
		t.Fatal(err)
	}
	dir := s.LabDir("a")
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if err := s.Save(&Snapshot{Lab: "a", RunID: "new", Phase: "up"}); err == nil {
		t.Fatal("Save into a read-only directory succeeded")
	}
	got, err := s.Load("a")
	if err != nil || got == nil || got.RunID != "old" {
		t.Errorf("after a failed save Load = %+v, %v; want the old snapshot intact", got, err)
	}
}

func TestSaveFailedRenameLeavesNoTemp(t *testing.T) {
	s := New(t.TempDir())
	// A non-empty directory where state.json should go makes the rename fail
	// (works as root too, unlike permission tricks).
	blocker := filepath.Join(s.LabDir("a"), "state.json")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&Snapshot{Lab: "a", RunID: "r"}); err == nil {
		t.Fatal("Save succeeded although state.json could not be replaced")
	}
	ents, err := os.ReadDir(s.LabDir("a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "state.json" {
			t.Errorf("left behind after a failed Save: %s", e.Name())
		}
	}
}

func TestLoadMissingAndNewerVersion(t *testing.T) {
	s := New(t.TempDir())
	if snap, err := s.Load("nolab"); snap != nil || err != nil {
		t.Fatalf("Load of a missing snapshot = %v, %v; want nil, nil", snap, err)
	}
	if err := os.MkdirAll(s.LabDir("a"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.LabDir("a"), "state.json")
	newer := []byte(`{"version": 2, "lab": "a", "run_id": "r9", "phase": "up", "some_future_field": true}`)
	if err := os.WriteFile(file, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load("a")
	if err == nil {
		t.Fatalf("Load of a version-2 snapshot = %+v, want an error", snap)
	}
	if !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "a") {
		t.Errorf("error %q should name the lab and the version", err)
	}
	if err := os.WriteFile(file, []byte(`{"version": 1, "lab": "a", "run_id": "r1", "phase": "up"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if snap, err := s.Load("a"); err != nil || snap.RunID != "r1" {
		t.Errorf("Load of a version-1 snapshot = %+v, %v", snap, err)
	}
	if err := os.WriteFile(file, []byte(`{"version": 1, "lab": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("a"); err == nil || !strings.Contains(err.Error(), "lab a") {
		t.Errorf("Load of a truncated snapshot = %v, want an error naming the lab", err)
	}
}

func inode(t *testing.T, l *Lock) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(l.f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

type lockResult struct {
	l   *Lock
	err error
}

// TestLockExcludes: a second Lock on the same lab blocks until the first is
// released.
func TestLockExcludes(t *testing.T) {
	s := New(t.TempDir())
	first, err := s.Lock("a")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan lockResult, 1)
	go func() { l, err := s.Lock("a"); got <- lockResult{l, err} }()
	// The waiter must still be blocked; we cannot prove "never", so probe
	// with a non-blocking flock on a fresh descriptor: it must fail while
	// first holds the lock, and select must not see the waiter succeed.
	probe, err := os.Open(first.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		t.Error("a non-blocking flock succeeded while the lab lock is held")
	}
	probe.Close()
	select {
	case r := <-got:
		t.Fatalf("second Lock returned (%v) while the first is held", r.err)
	default:
	}
	// Another lab is independent.
	other, err := s.Lock("b")
	if err != nil {
		t.Fatal(err)
	}
	other.Unlock()

	first.Unlock()
	first.Unlock() // safe twice
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.l.Unlock()
	case <-time.After(10 * time.Second):
		t.Fatal("waiter did not get the lock within 10s of its release")
	}
	var nilLock *Lock
	nilLock.Unlock() // nil-safe
}

// TestRemoveWithHeldLock: Remove deletes the state and the lock file; a
// waiter already blocked in Lock then ends up holding a lock on a fresh file
// at the lock path, not on the unlinked inode.
func TestRemoveWithHeldLock(t *testing.T) {
	s := New(t.TempDir())
	if err := s.Append("a", Record{Op: OpBegin}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(&Snapshot{Lab: "a"}); err != nil {
		t.Fatal(err)
	}
	held, err := s.Lock("a")
	if err != nil {
		t.Fatal(err)
	}
	lockPath := held.path
	oldIno := inode(t, held)

	started := make(chan struct{})
	got := make(chan lockResult, 1)
	go func() {
		close(started)
		l, err := s.Lock("a")
		got <- lockResult{l, err}
	}()
	<-started
	// Make sure the waiter is blocked in flock on the OLD inode before the
	// file is removed: wait (bounded) until the kernel lists a second
	// locker of that inode in /proc/locks (a blocked request shows as "->").
	waitBlocked(t, oldIno)

	if err := s.Remove("a", held); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.LabDir("a")); !os.IsNotExist(err) {
		t.Errorf("lab dir still there after Remove: %v", err)
	}
	if _, err := os.Stat(lockPath); !os.IsNotExist(err) {
		t.Errorf("lock file still there after Remove with a held lock: %v", err)
	}
	select {
	case r := <-got:
		t.Fatalf("waiter got the lock (%v) before the holder unlocked", r.err)
	default:
	}
	held.Unlock()

	var w *Lock
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		w = r.l
	case <-time.After(10 * time.Second):
		t.Fatal("waiter still blocked 10s after the holder released the removed lock")
	}
	defer w.Unlock()
	var st unix.Stat_t
	if err := unix.Stat(lockPath, &st); err != nil {
		t.Fatalf("no lock file at %s after the waiter locked: %v", lockPath, err)
	}
	if got := inode(t, w); got != st.Ino {
		t.Errorf("waiter holds inode %d, but the lock path is inode %d: it locked a dead file", got, st.Ino)
	}
	// A third locker must now be excluded by the waiter's lock.
	probe, err := os.Open(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if err := unix.Flock(int(probe.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		t.Error("the lock file at the path is not locked by the waiter")
	}
}

// waitBlocked waits until /proc/locks shows a blocked FLOCK request on ino.
// If /proc/locks is unreadable it proceeds: the test's assertions hold
// either way; the wait only makes it exercise the retry path.
func waitBlocked(t *testing.T, ino uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	suffix := ":" + strconv.FormatUint(ino, 10) + " "
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Logf("cannot read /proc/locks (%v); not waiting for the waiter to block", err)
			return
		}
		for _, ln := range strings.Split(string(b), "\n") {
			if strings.Contains(ln, "->") && strings.Contains(ln, "FLOCK") && strings.Contains(ln+" ", suffix) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not an assertion
	}
	t.Fatal("the waiter never blocked in flock within 10s")
}

func TestRemoveWithoutLockKeepsLockFile(t *testing.T) {
	s := New(t.TempDir())
	l, err := s.Lock("a")
	if err != nil {
		t.Fatal(err)
	}
	path := l.path
	l.Unlock()
	if err := s.Append("a", Record{Op: OpBegin}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.LabDir("a")); !os.IsNotExist(err) {
		t.Errorf("lab dir still there: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Remove without a held lock removed the lock file: %v", err)
	}
	// Removing a lab that has no state is fine.
	if err := s.Remove("nolab", nil); err != nil {
		t.Errorf("Remove of a lab without state: %v", err)
	}
}

func TestLabsListsDirsOnly(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	if labs, err := s.Labs(); err != nil || len(labs) != 0 {
		t.Fatalf("Labs of an empty dir = %v, %v", labs, err)
	}
	for _, lab := range []string{"zeta", "alpha", "m-1"} {
		if err := s.Append(lab, Record{Op: OpBegin}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.Lock("alpha") // creates .locks/
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	for _, f := range []string{"host-knobs.json", "stray.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".hidden"), 0o700); err != nil {
		t.Fatal(err)
	}
	labs, err := s.Labs()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alpha", "m-1", "zeta"}; !slices.Equal(labs, want) {
		t.Errorf("Labs = %v, want %v (dirs only, sorted, no dot dirs)", labs, want)
	}
	if labs, err := New(filepath.Join(dir, "missing")).Labs(); err != nil || labs != nil {
		t.Errorf("Labs of a missing runtime dir = %v, %v; want nil, nil", labs, err)
	}
}

func TestLockPathCreatesParent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "y", "k.lock")
	l, err := LockPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("lock file not created: %v", err)
	}
}
