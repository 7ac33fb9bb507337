package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Version is the snapshot format version.
const Version = 1

// DefaultDir is the runtime directory.
const DefaultDir = "/run/netlab"

// Journal record ops.
const (
	OpBegin     = "begin"      // an up started (run id, lab file)
	OpNetns     = "netns"      // intent: a namespace is about to be created
	OpHostKnob  = "host-knob"  // intent: a host knob is about to be taken
	OpUp        = "up"         // the lab is fully up
	OpRollback  = "rollback"   // an up failed and is being rolled back
	OpDownBegin = "down-begin" // a down started
)

// Record is one journal line.
type Record struct {
	Time  time.Time `json:"time"`
	Op    string    `json:"op"`
	Name  string    `json:"name,omitempty"`
	Node  string    `json:"node,omitempty"`
	RunID string    `json:"run_id,omitempty"`
	File  string    `json:"file,omitempty"`
}

// Snapshot is the lab's state as of its last change.
type Snapshot struct {
	Version    int          `json:"version"`
	Lab        string       `json:"lab"`
	RunID      string       `json:"run_id"`
	File       string       `json:"file,omitempty"`
	Phase      string       `json:"phase"` // creating, up, failed
	Created    time.Time    `json:"created"`
	Namespaces []Namespace  `json:"namespaces"`
	HostKnobs  []string     `json:"host_knobs,omitempty"`
	Links      []LinkRecord `json:"links,omitempty"`
}

// Namespace is one node's namespace.
type Namespace struct {
	Node string `json:"node"`
	Name string `json:"name"`
}

// LinkRecord remembers a veth pair (for status output: peers).
type LinkRecord struct {
	A string `json:"a"` // node:iface
	B string `json:"b"`
}

// Store is the runtime directory.
type Store struct{ Dir string }

// New returns a store rooted at dir ("" means DefaultDir).
func New(dir string) *Store {
	if dir == "" {
		dir = DefaultDir
	}
	return &Store{Dir: dir}
}

// LabDir is <dir>/<lab>.
func (s *Store) LabDir(lab string) string { return filepath.Join(s.Dir, lab) }

func (s *Store) journalPath(lab string) string  { return filepath.Join(s.LabDir(lab), "journal.jsonl") }
func (s *Store) snapshotPath(lab string) string { return filepath.Join(s.LabDir(lab), "state.json") }

// Lock takes the per-lab lock (blocking). The lock file lives beside the lab
// directory so that removing the directory never races with a waiter.
func (s *Store) Lock(lab string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Join(s.Dir, ".locks"), 0o700); err != nil {
		return nil, fmt.Errorf("runtime directory %s: %w", s.Dir, err)
	}
	return lockFile(filepath.Join(s.Dir, ".locks", lab+".lock"))
}

// Lock is a held flock.
type Lock struct {
	f    *os.File
	path string
}

func lockFile(path string) (*Lock, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open lock %s: %w", path, err)
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// The holder may have unlinked the file before we got the lock: then
		// we hold a lock on a dead inode; start again on the current file.
		var a, b unix.Stat_t
		if unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(path, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			return &Lock{f: f, path: path}, nil
		}
		f.Close()
	}
}

// LockPath takes an exclusive flock on path (blocking).
func LockPath(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return lockFile(path)
}

// Unlock releases the lock; safe to call twice.
func (l *Lock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// Unlock releases a lab's lock and, if the lab has no state directory (a
// refusal before anything was recorded), removes the lock file too.
func (s *Store) Unlock(lab string, held *Lock) {
	if _, err := os.Stat(s.LabDir(lab)); errors.Is(err, os.ErrNotExist) && held != nil && held.f != nil {
		_ = os.Remove(held.path)
	}
	held.Unlock()
}

// Append writes one record to the lab's journal (see JournalWriter),
// creating the lab directory if needed.
func (s *Store) Append(lab string, r Record) error {
	w, err := s.OpenJournal(lab)
	if err != nil {
		return err
	}
	if err := w.Append(r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// JournalWriter appends records to one lab's journal through a file kept
// open, so recording an object costs one write(2): O(1), never a rewrite of
// the whole state. It is safe for concurrent use. Records are not fsynced:
// a write(2) survives the writer's death (SIGKILL included) in the page
// cache, and what the journal records (namespaces, their mounts, host
// knobs) does not survive a reboot either.
type JournalWriter struct {
	mu sync.Mutex
	f  *os.File
}

// OpenJournal opens a lab's journal for appending, creating the lab
// directory if needed. A torn last line (a crash mid-write) is ended first,
// so the next record starts on a line of its own.
func (s *Store) OpenJournal(lab string) (*JournalWriter, error) {
	if err := os.MkdirAll(s.LabDir(lab), 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	f, err := os.OpenFile(s.journalPath(lab), os.O_RDWR|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return nil, fmt.Errorf("journal: %w", err)
			}
		}
	}
	return &JournalWriter{f: f}, nil
}

// Append writes one record (one line, one write(2)).
func (w *JournalWriter) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("journal: closed")
	}
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Close closes the journal; safe to call twice.
func (w *JournalWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Journal reads the lab's journal. A torn last line (a crash mid-write) is
// ignored. A missing journal returns nil, nil.
func (s *Store) Journal(lab string) ([]Record, error) {
	f, err := os.Open(s.journalPath(lab))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// Save writes the snapshot atomically (temp file, fsync, rename, fsync dir).
func (s *Store) Save(snap *Snapshot) error {
	dir := s.LabDir(snap.Lab)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	snap.Version = Version
	b, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.snapshotPath(snap.Lab)); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Load reads a lab's snapshot; a missing one returns nil, nil.
func (s *Store) Load(lab string) (*Snapshot, error) {
	b, err := os.ReadFile(s.snapshotPath(lab))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var snap Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("snapshot of lab %s: %w", lab, err)
	}
	if snap.Version > Version {
		return nil, fmt.Errorf("snapshot of lab %s has version %d; this netlab reads %d", lab, snap.Version, Version)
	}
	return &snap, nil
}

// Remove deletes the lab's state directory and, if held, its lock file
// (waiters notice the unlinked file and retry on a new one).
func (s *Store) Remove(lab string, held *Lock) error {
	if err := os.RemoveAll(s.LabDir(lab)); err != nil {
		return fmt.Errorf("remove state of lab %s: %w", lab, err)
	}
	if held != nil && held.f != nil {
		_ = os.Remove(held.path)
	}
	return nil
}

// Labs lists labs that have state.
func (s *Store) Labs() ([]string, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Busy reports whether a live process holds the lab's lock (an `up` or
// `down` in progress): it tries a non-blocking flock and lets go at once.
func (s *Store) Busy(lab string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, ".locks", lab+".lock"), os.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open lock of lab %s: %w", lab, err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock of lab %s: %w", lab, err)
	}
	return false, unix.Flock(int(f.Fd()), unix.LOCK_UN)
}
