package hostknob

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/netlabdev/netlab/internal/state"
)

// Knob is one host sysctl a lab wants: Path relative to /proc/sys.
type Knob struct {
	Key   string // as written in the lab (for messages)
	Path  string
	Value string
}

// Entry is what the ledger remembers about one knob.
type Entry struct {
	Path     string   `json:"path"`
	Original string   `json:"original"`
	Value    string   `json:"value"`
	Holders  []string `json:"holders"`
}

// Sysctl reads and writes root-namespace sysctls (a fake in unit tests).
type Sysctl interface {
	Read(path string) (string, error)
	Write(path, value string) error
}

// Ledger is the host-knob ledger file under the runtime directory.
type Ledger struct {
	Dir string
	IO  Sysctl
	// Equal compares a wanted value with what the kernel reads back (e.g.
	// allowing jiffy rounding for *_ms keys). Nil means string equality.
	Equal func(path, want, got string) bool
}

type ledgerFile struct {
	Version int               `json:"version"`
	Knobs   map[string]*Entry `json:"knobs"`
}

func (l *Ledger) file() string { return filepath.Join(l.Dir, "host-knobs.json") }
func (l *Ledger) lock() (*state.Lock, error) {
	return state.LockPath(filepath.Join(l.Dir, ".locks", ".host-knobs.lock")) // lab names cannot start with "."
}

func (l *Ledger) equal(path, want, got string) bool {
	if l.Equal != nil {
		return l.Equal(path, want, got)
	}
	return want == got
}

func (l *Ledger) read() (*ledgerFile, error) {
	lf := &ledgerFile{Version: 1, Knobs: map[string]*Entry{}}
	b, err := os.ReadFile(l.file())
	if errors.Is(err, os.ErrNotExist) {
		return lf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("host-knob ledger: %w", err)
	}
	if err := json.Unmarshal(b, lf); err != nil {
		return nil, fmt.Errorf("host-knob ledger %s is corrupt: %w", l.file(), err)
	}
	if lf.Knobs == nil {
		lf.Knobs = map[string]*Entry{}
	}
	return lf, nil
}

func (l *Ledger) write(lf *ledgerFile) error {
	if len(lf.Knobs) == 0 {
		if err := os.Remove(l.file()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("host-knob ledger: %w", err)
		}
		return nil
	}
	b, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.file() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("host-knob ledger: %w", err)
	}
	defer os.Remove(tmp) // gone after a successful rename; cleans up otherwise
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("host-knob ledger: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("host-knob ledger: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, l.file()); err != nil {
		return fmt.Errorf("host-knob ledger: %w", err)
	}
	if d, err := os.Open(l.Dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// locked runs fn with the ledger read under the global lock.
func (l *Ledger) locked(fn func(lf *ledgerFile) error) error {
	lk, err := l.lock()
	if err != nil {
		return err
	}
	defer lk.Unlock()
	lf, err := l.read()
	if err != nil {
		return err
	}
	return fn(lf)
}

// ConflictError is returned when another lab holds a knob at another value.
type ConflictError struct {
	Key, Want, Held string
	Holders         []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("host sysctl %s: lab(s) %v hold it at %q; this lab wants %q", e.Key, e.Holders, e.Held, e.Want)
}

// Check reports, without changing anything, whether lab could take knobs.
func (l *Ledger) Check(lab string, knobs []Knob) error {
	return l.locked(func(lf *ledgerFile) error { return l.conflicts(lf, lab, knobs) })
}

func (l *Ledger) conflicts(lf *ledgerFile, lab string, knobs []Knob) error {
	var errs []error
	for _, k := range knobs {
		e := lf.Knobs[k.Path]
		if e == nil || l.equal(k.Path, k.Value, e.Value) {
			continue
		}
		others := slices.DeleteFunc(slices.Clone(e.Holders), func(h string) bool { return h == lab })
		if len(others) > 0 {
			errs = append(errs, &ConflictError{Key: k.Key, Want: k.Value, Held: e.Value, Holders: others})
		}
	}
	return errors.Join(errs...)
}

// Acquire takes knobs for lab: for each knob, the old value is recorded in
// the ledger (fsynced) before the first write; the value is written and read
// back. intent is called before each knob is touched (the caller journals
// it). On error, knobs taken by this call stay recorded for Release.
func (l *Ledger) Acquire(lab string, knobs []Knob, intent func(Knob) error) error {
	lk, err := l.lock()
	if err != nil {
		return err
	}
	defer lk.Unlock()
	lf, err := l.read()
	if err != nil {
		return err
	}
	if err := l.conflicts(lf, lab, knobs); err != nil {
		return err
	}
	for _, k := range knobs {
		if err := intent(k); err != nil {
			return err
		}
		e := lf.Knobs[k.Path]
		if e == nil {
			old, err := l.IO.Read(k.Path)
			if err != nil {
				return fmt.Errorf("host sysctl %s: read: %w", k.Key, err)
			}
			e = &Entry{Path: k.Path, Original: old, Value: k.Value}
			lf.Knobs[k.Path] = e
		} else if len(e.Holders) == 0 || (len(e.Holders) == 1 && e.Holders[0] == lab) {
			e.Value = k.Value
		}
		if !slices.Contains(e.Holders, lab) {
			e.Holders = append(e.Holders, lab)
			sort.Strings(e.Holders)
		}
		if err := l.write(lf); err != nil { // recorded BEFORE the write
			return err
		}
		if err := l.IO.Write(k.Path, k.Value); err != nil {
			return fmt.Errorf("host sysctl %s=%s: write: %w", k.Key, k.Value, err)
		}
		got, err := l.IO.Read(k.Path)
		if err != nil {
			return fmt.Errorf("host sysctl %s: read back: %w", k.Key, err)
		}
		if !l.equal(k.Path, k.Value, got) {
			return fmt.Errorf("host sysctl %s=%s: the kernel kept %q", k.Key, k.Value, got)
		}
	}
	return nil
}

// Restored describes one knob put back by Release.
type Restored struct {
	Path, Value string
}

// Release drops lab's hold on every knob; knobs no lab holds any more get
// their original value back. It returns what it restored. Errors restoring
// one knob do not stop the others.
func (l *Ledger) Release(lab string) ([]Restored, error) {
	var out []Restored
	var errs []error
	err := l.locked(func(lf *ledgerFile) error {
		for _, path := range sortedPaths(lf.Knobs) {
			e := lf.Knobs[path]
			if !slices.Contains(e.Holders, lab) {
				continue
			}
			e.Holders = slices.DeleteFunc(e.Holders, func(h string) bool { return h == lab })
			if len(e.Holders) > 0 {
				continue
			}
			if err := l.IO.Write(path, e.Original); err != nil {
				errs = append(errs, fmt.Errorf("restore host sysctl %s=%s: %w", path, e.Original, err))
				e.Holders = []string{lab} // keep it recorded for a later retry
				continue
			}
			out = append(out, Restored{Path: path, Value: e.Original})
			delete(lf.Knobs, path)
		}
		return l.write(lf)
	})
	return out, errors.Join(append(errs, err)...)
}

// Held returns the knobs lab holds.
func (l *Ledger) Held(lab string) ([]Entry, error) {
	var out []Entry
	err := l.locked(func(lf *ledgerFile) error {
		for _, p := range sortedPaths(lf.Knobs) {
			if slices.Contains(lf.Knobs[p].Holders, lab) {
				out = append(out, *lf.Knobs[p])
			}
		}
		return nil
	})
	return out, err
}

func sortedPaths(m map[string]*Entry) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
