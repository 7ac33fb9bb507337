package hostknob

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netlabdev/netlab/internal/state"
)

// fakeKernel is an in-memory root namespace: a map of /proc/sys paths.
type fakeKernel struct {
	mu     sync.Mutex
	vals   map[string]string
	keep   map[string]string // path -> value the "kernel" keeps whatever is written
	failW  map[string]error  // path -> error returned by Write
	reads  []string
	writes []string // "path=value", in order
	// beforeWrite runs before a write is applied (to inspect the ledger).
	beforeWrite func(path, value string)
}

func newFakeKernel(vals map[string]string) *fakeKernel {
	return &fakeKernel{vals: vals, keep: map[string]string{}, failW: map[string]error{}}
}

func (k *fakeKernel) Read(path string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads = append(k.reads, path)
	v, ok := k.vals[path]
	if !ok {
		return "", fmt.Errorf("read %s: %w", path, os.ErrNotExist)
	}
	return v, nil
}

func (k *fakeKernel) Write(path, value string) error {
	k.mu.Lock()
	hook := k.beforeWrite
	k.mu.Unlock()
	if hook != nil {
		hook(path, value)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.failW[path]; err != nil {
		return err
	}
	if _, ok := k.vals[path]; !ok {
		return fmt.Errorf("write %s: %w", path, os.ErrNotExist)
	}
	k.writes = append(k.writes, path+"="+value)
	if v, ok := k.keep[path]; ok {
		value = v
	}
	k.vals[path] = value
	return nil
}

func (k *fakeKernel) value(path string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.vals[path]
}

func (k *fakeKernel) writeLog() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.writes)
}

func (k *fakeKernel) readCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.reads)
}

const (
	gcPath   = "net/ipv4/neigh/default/gc_interval"
	gcKey    = "net.ipv4.neigh.default.gc_interval"
	thPath   = "net/ipv4/neigh/default/gc_thresh1"
	thKey    = "net.ipv4.neigh.default.gc_thresh1"
	baseMS   = "net/ipv4/neigh/default/base_reachable_time_ms"
	baseMSKy = "net.ipv4.neigh.default.base_reachable_time_ms"
)

func gc(v string) Knob { return Knob{Key: gcKey, Path: gcPath, Value: v} }
func th(v string) Knob { return Knob{Key: thKey, Path: thPath, Value: v} }

func noIntent(Knob) error { return nil }

func newLedger(t *testing.T) (*Ledger, *fakeKernel) {
	t.Helper()
	k := newFakeKernel(map[string]string{gcPath: "30", thPath: "128", baseMS: "30000"})
	return &Ledger{Dir: t.TempDir(), IO: k}, k
}

// readLedger decodes the ledger file on disk; ok is false if it is absent.
func readLedger(t *testing.T, l *Ledger) (lf ledgerFile, ok bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir, "host-knobs.json"))
	if errors.Is(err, os.ErrNotExist) {
		return lf, false
	}
	if err != nil {
		t.Fatalf("read ledger: %v", err)
	}
	if err := json.Unmarshal(b, &lf); err != nil {
		t.Fatalf("ledger file is not JSON: %v\n%s", err, b)
	}
	return lf, true
}

func ledgerBytes(t *testing.T, l *Ledger) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir, "host-knobs.json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return b
}

func TestAcquireRecordsOriginalBeforeWrite(t *testing.T) {
	l, k := newLedger(t)
	var checked []string
	k.beforeWrite = func(path, value string) {
		lf, ok := readLedger(t, l)
		if !ok {
			t.Errorf("write %s=%s before the ledger file exists", path, value)
			return
		}
		e := lf.Knobs[path]
		if e == nil {
			t.Errorf("write %s=%s before the ledger records it; ledger: %+v", path, value, lf.Knobs)
			return
		}
		want := map[string]string{gcPath: "30", thPath: "128"}[path]
		if e.Original != want {
			t.Errorf("ledger entry for %s: original %q, want %q (the value before any write)", path, e.Original, want)
		}
		if !slices.Contains(e.Holders, "lab1") {
			t.Errorf("ledger entry for %s: holders %v lack lab1 at write time", path, e.Holders)
		}
		checked = append(checked, path)
	}
	var intents []string
	err := l.Acquire("lab1", []Knob{gc("5"), th("0")}, func(kn Knob) error {
		// The caller journals intent before the knob is touched: nothing
		// may have been written to this knob yet.
		if got := k.value(kn.Path); got != map[string]string{gcPath: "30", thPath: "128"}[kn.Path] {
			t.Errorf("intent for %s called after the knob changed (now %q)", kn.Path, got)
		}
		intents = append(intents, kn.Path)
		return nil
	})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if want := []string{gcPath, thPath}; !slices.Equal(checked, want) {
		t.Errorf("writes inspected: %v, want %v", checked, want)
	}
	if want := []string{gcPath, thPath}; !slices.Equal(intents, want) {
		t.Errorf("intents: %v, want %v", intents, want)
	}
	if got := k.value(gcPath); got != "5" {
		t.Errorf("kernel %s = %q, want 5", gcPath, got)
	}
	if got := k.value(thPath); got != "0" {
		t.Errorf("kernel %s = %q, want 0", thPath, got)
	}
	held, err := l.Held("lab1")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || held[0].Path != gcPath || held[0].Original != "30" || held[0].Value != "5" || held[1].Path != thPath {
		t.Errorf("Held = %+v", held)
	}
}

func TestAcquireIntentErrorStopsBeforeTouching(t *testing.T) {
	l, k := newLedger(t)
	boom := errors.New("journal full")
	err := l.Acquire("lab1", []Knob{gc("5")}, func(Knob) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Acquire = %v, want the intent error", err)
	}
	if w := k.writeLog(); len(w) != 0 {
		t.Errorf("kernel written after a failed intent: %v", w)
	}
	if _, ok := readLedger(t, l); ok {
		t.Errorf("ledger file written after a failed intent")
	}
}

func TestAcquireReadBackMismatchFails(t *testing.T) {
	l, k := newLedger(t)
	k.keep[gcPath] = "7" // the kernel clamps/ignores what we write
	err := l.Acquire("lab1", []Knob{gc("5")}, noIntent)
	if err == nil {
		t.Fatal("Acquire succeeded although the kernel kept another value")
	}
	if !strings.Contains(err.Error(), gcKey) || !strings.Contains(err.Error(), `"7"`) {
		t.Errorf("error %q should name the key and the value the kernel kept", err)
	}
	// The knob was touched: it stays recorded so that Release restores it.
	held, herr := l.Held("lab1")
	if herr != nil {
		t.Fatal(herr)
	}
	if len(held) != 1 || held[0].Original != "30" {
		t.Fatalf("after a failed read-back Held = %+v, want the knob recorded with original 30", held)
	}
	delete(k.keep, gcPath)
	restored, err := l.Release("lab1")
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != 1 || restored[0] != (Restored{Path: gcPath, Value: "30"}) {
		t.Errorf("Release = %+v", restored)
	}
	if got := k.value(gcPath); got != "30" {
		t.Errorf("kernel %s = %q after release, want 30", gcPath, got)
	}
}

func TestAcquireEqualHook(t *testing.T) {
	l, k := newLedger(t)
	k.keep[baseMS] = "30004" // jiffy rounding
	knob := Knob{Key: baseMSKy, Path: baseMS, Value: "30000"}

	if err := l.Acquire("strict", []Knob{knob}, noIntent); err == nil {
		t.Fatal("without Equal, a rounded read-back must fail")
	}
	if _, err := l.Release("strict"); err != nil {
		t.Fatal(err)
	}

	type call struct{ path, want, got string }
	var calls []call
	l.Equal = func(path, want, got string) bool {
		calls = append(calls, call{path, want, got})
		return path == baseMS && want == "30000" && got == "30004"
	}
	if err := l.Acquire("lenient", []Knob{knob}, noIntent); err != nil {
		t.Fatalf("with an Equal that accepts the rounding, Acquire = %v", err)
	}
	if want := []call{{baseMS, "30000", "30004"}}; !slices.Equal(calls, want) {
		t.Errorf("Equal calls = %v, want %v", calls, want)
	}

	// The hook is consulted, not bypassed: one that says no still fails.
	l2, k2 := newLedger(t)
	k2.keep[gcPath] = "5"
	l2.Equal = func(path, want, got string) bool { return false }
	if err := l2.Acquire("lab", []Knob{gc("5")}, noIntent); err == nil {
		t.Error("Equal returned false but Acquire succeeded")
	}
}

func TestSameValueTwoLabsRestoreAfterLast(t *testing.T) {
	l, k := newLedger(t)
	if err := l.Acquire("a", []Knob{gc("5")}, noIntent); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire("b", []Knob{gc("5")}, noIntent); err != nil {
		t.Fatalf("second lab with the same value: %v", err)
	}
	lf, _ := readLedger(t, l)
	if e := lf.Knobs[gcPath]; e == nil || e.Original != "30" || !slices.Equal(e.Holders, []string{"a", "b"}) {
		t.Fatalf("ledger entry = %+v, want original 30 (not the value lab a wrote) held by a and b", e)
	}
	before := len(k.writeLog())
	restored, err := l.Release("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != 0 {
		t.Errorf("Release(a) restored %v while b still holds the knob", restored)
	}
	if w := k.writeLog()[before:]; len(w) != 0 {
		t.Errorf("Release(a) wrote %v while b still holds the knob", w)
	}
	if got := k.value(gcPath); got != "5" {
		t.Errorf("kernel %s = %q after Release(a), want 5", gcPath, got)
	}
	restored, err = l.Release("b")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Restored{{Path: gcPath, Value: "30"}}; !slices.Equal(restored, want) {
		t.Errorf("Release(b) = %v, want %v", restored, want)
	}
	if w := k.writeLog()[before:]; !slices.Equal(w, []string{gcPath + "=30"}) {
		t.Errorf("writes during the releases = %v, want exactly one restore", w)
	}
	if _, ok := readLedger(t, l); ok {
		t.Error("ledger file left behind although no knob is held")
	}
	// Releasing again changes nothing.
	restored, err = l.Release("b")
	if err != nil || len(restored) != 0 {
		t.Errorf("second Release(b) = %v, %v", restored, err)
	}
}

func TestConflictRefusedWithoutWriting(t *testing.T) {
	l, k := newLedger(t)
	if err := l.Acquire("a", []Knob{gc("5")}, noIntent); err != nil {
		t.Fatal(err)
	}
	ledgerBefore := ledgerBytes(t, l)
	writesBefore := len(k.writeLog())
	intentCalled := false
	err := l.Acquire("b", []Knob{th("0"), gc("9")}, func(Knob) error { intentCalled = true; return nil })
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("Acquire = %v (%T), want *ConflictError", err, err)
	}
	if ce.Key != gcKey || ce.Want != "9" || ce.Held != "5" || !slices.Equal(ce.Holders, []string{"a"}) {
		t.Errorf("ConflictError = %+v", ce)
	}
	for _, s := range []string{gcKey, `"5"`, `"9"`, "a"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %s", err, s)
		}
	}
	if intentCalled {
		t.Error("intent called for a refused lab")
	}
	if w := k.writeLog()[writesBefore:]; len(w) != 0 {
		t.Errorf("refused lab wrote %v (not even its non-conflicting knob may be written)", w)
	}
	if k.value(gcPath) != "5" || k.value(thPath) != "128" {
		t.Errorf("kernel changed: gc=%s thresh1=%s", k.value(gcPath), k.value(thPath))
	}
	if got := ledgerBytes(t, l); string(got) != string(ledgerBefore) {
		t.Errorf("ledger changed by a refused Acquire:\n%s\nwas:\n%s", got, ledgerBefore)
	}
	// The same lab may change its own knob.
	if err := l.Acquire("a", []Knob{gc("6")}, noIntent); err != nil {
		t.Fatalf("sole holder changing its value: %v", err)
	}
	lf, _ := readLedger(t, l)
	if e := lf.Knobs[gcPath]; e.Value != "6" || e.Original != "30" {
		t.Errorf("entry after re-acquire = %+v, want value 6 and original still 30", e)
	}
}

func TestCheckIsReadOnly(t *testing.T) {
	l, k := newLedger(t)
	// On an empty runtime dir: no ledger file appears, the kernel is not touched.
	if err := l.Check("a", []Knob{gc("5")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := readLedger(t, l); ok {
		t.Error("Check created a ledger file")
	}
	if err := l.Acquire("a", []Knob{gc("5")}, noIntent); err != nil {
		t.Fatal(err)
	}
	before := ledgerBytes(t, l)
	reads, writes := k.readCount(), len(k.writeLog())

	if err := l.Check("b", []Knob{gc("5")}); err != nil {
		t.Errorf("Check with the same value = %v", err)
	}
	err := l.Check("b", []Knob{gc("9"), th("1")})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Key != gcKey {
		t.Errorf("Check with another value = %v, want *ConflictError for %s", err, gcKey)
	}
	if err := l.Check("a", []Knob{gc("9")}); err != nil {
		t.Errorf("Check by the sole holder = %v, want nil", err)
	}
	if k.readCount() != reads || len(k.writeLog()) != writes {
		t.Errorf("Check touched the kernel: reads %d->%d writes %d->%d", reads, k.readCount(), writes, len(k.writeLog()))
	}
	if got := ledgerBytes(t, l); string(got) != string(before) {
		t.Errorf("Check changed the ledger:\n%s\nwas:\n%s", got, before)
	}
	if held, _ := l.Held("b"); len(held) != 0 {
		t.Errorf("Check made b a holder: %+v", held)
	}
}

func TestReleaseOfNonHolderIsNoop(t *testing.T) {
	l, k := newLedger(t)
	// Nothing recorded at all.
	restored, err := l.Release("ghost")
	if err != nil || len(restored) != 0 {
		t.Fatalf("Release on an empty ledger = %v, %v", restored, err)
	}
	if _, ok := readLedger(t, l); ok {
		t.Error("Release on an empty ledger created a ledger file")
	}
	// Another lab holds a knob.
	if err := l.Acquire("a", []Knob{gc("5")}, noIntent); err != nil {
		t.Fatal(err)
	}
	before := ledgerBytes(t, l)
	writes := len(k.writeLog())
	restored, err = l.Release("ghost")
	if err != nil || len(restored) != 0 {
		t.Fatalf("Release(ghost) = %v, %v", restored, err)
	}
	if w := k.writeLog()[writes:]; len(w) != 0 {
		t.Errorf("Release(ghost) wrote %v", w)
	}
	if got := ledgerBytes(t, l); string(got) != string(before) {
		t.Errorf("Release(ghost) changed the ledger:\n%s\nwas:\n%s", got, before)
	}
	if k.value(gcPath) != "5" {
		t.Errorf("Release(ghost) changed the kernel value to %q", k.value(gcPath))
	}
}

func TestCorruptLedgerIsAClearError(t *testing.T) {
	l, k := newLedger(t)
	file := filepath.Join(l.Dir, "host-knobs.json")
	if err := os.WriteFile(file, []byte(`{"version":1,"knobs":{"net/ipv4`), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Acquire": func() error { return l.Acquire("a", []Knob{gc("5")}, noIntent) },
		"Check":   func() error { return l.Check("a", []Knob{gc("5")}) },
		"Release": func() error { _, err := l.Release("a"); return err },
		"Held":    func() error { _, err := l.Held("a"); return err },
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("%s on a corrupt ledger succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), file) {
			t.Errorf("%s error %q should say the ledger is corrupt and name %s", name, err, file)
		}
	}
	if w := k.writeLog(); len(w) != 0 {
		t.Errorf("kernel written with a corrupt ledger: %v", w)
	}
	if b, _ := os.ReadFile(file); string(b) != `{"version":1,"knobs":{"net/ipv4` {
		t.Errorf("corrupt ledger was overwritten: %q", b)
	}
}

func TestFailedRestoreKeepsEntryForRetry(t *testing.T) {
	l, k := newLedger(t)
	if err := l.Acquire("a", []Knob{gc("5"), th("0")}, noIntent); err != nil {
		t.Fatal(err)
	}
	k.failW[gcPath] = errors.New("EPERM")
	restored, err := l.Release("a")
	if err == nil {
		t.Fatal("Release succeeded although a restore failed")
	}
	if !strings.Contains(err.Error(), gcPath) || !strings.Contains(err.Error(), "EPERM") {
		t.Errorf("error %q should name the knob and the cause", err)
	}
	// The other knob is restored all the same.
	if want := []Restored{{Path: thPath, Value: "128"}}; !slices.Equal(restored, want) {
		t.Errorf("restored = %v, want %v", restored, want)
	}
	lf, ok := readLedger(t, l)
	if !ok {
		t.Fatal("ledger removed although a knob could not be restored")
	}
	e := lf.Knobs[gcPath]
	if e == nil || e.Original != "30" || !slices.Equal(e.Holders, []string{"a"}) {
		t.Fatalf("entry after a failed restore = %+v, want original 30 still held by a", e)
	}
	if lf.Knobs[thPath] != nil {
		t.Errorf("restored knob still in the ledger: %+v", lf.Knobs[thPath])
	}
	// Another lab wanting a different value is still refused meanwhile.
	var ce *ConflictError
	if err := l.Check("b", []Knob{gc("9")}); !errors.As(err, &ce) {
		t.Errorf("Check during a pending restore = %v, want conflict", err)
	}
	// Retry succeeds and cleans up.
	delete(k.failW, gcPath)
	restored, err = l.Release("a")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if want := []Restored{{Path: gcPath, Value: "30"}}; !slices.Equal(restored, want) {
		t.Errorf("retry restored %v, want %v", restored, want)
	}
	if k.value(gcPath) != "30" {
		t.Errorf("kernel %s = %q after retry", gcPath, k.value(gcPath))
	}
	if _, ok := readLedger(t, l); ok {
		t.Error("ledger file left after the last knob was restored")
	}
}

func TestLedgerFileRemovedWhenEmpty(t *testing.T) {
	l, _ := newLedger(t)
	if err := l.Acquire("a", []Knob{gc("5")}, noIntent); err != nil {
		t.Fatal(err)
	}
	if _, ok := readLedger(t, l); !ok {
		t.Fatal("no ledger file while a knob is held")
	}
	if _, err := l.Release("a"); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "host-knobs") {
			t.Errorf("left in the runtime dir after the last release: %s", e.Name())
		}
	}
}

// The ledger shares its runtime directory (and its .locks directory) with
// the per-lab state: lab.Options.ledger() uses the store's Dir. Its global
// lock must never be the per-lab lock file of any lab: `netlab up/down L`
// holds L's lock and then calls Check/Acquire/Release, which flock the
// ledger lock through a new descriptor; if both were one file the process
// would deadlock on itself. (It once was .locks/host-knobs.lock, the lock of
// a lab named "host-knobs".)
func TestLedgerLockIsNotALabLock(t *testing.T) {
	for _, lab := range []string{"host-knobs", "host-knobs-lock", "knobs", "ledger", "locks"} {
		t.Run(lab, func(t *testing.T) {
			l, _ := newLedger(t)
			store := state.New(l.Dir)
			labLock, err := store.Lock(lab)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := l.Release(lab); done <- err }()
			select {
			case err := <-done:
				labLock.Unlock()
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				labLock.Unlock() // free the goroutine, then join it
				<-done
				t.Fatalf("ledger Release blocked while lab %q holds its per-lab lock: "+
					"the ledger lock is the same file as that lab's lock", lab)
			}
		})
	}
}
