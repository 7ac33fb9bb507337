package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/firewall"
	"github.com/netlabdev/netlab/internal/hostknob"
	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/internal/state"
	"github.com/netlabdev/netlab/topology"
)

// DownReport says what down did.
type DownReport struct {
	Lab string `json:"lab"`
	// Removed are the namespaces deleted.
	Removed []string `json:"removed"`
	// Skipped are namespaces left alone, with the reason (not netlab's).
	Skipped []string `json:"skipped,omitempty"`
	// Restored are host knobs put back to their old values.
	Restored []hostknob.Restored `json:"restored,omitempty"`
	// NothingToDo is true when there was no state and no marked namespace.
	NothingToDo bool `json:"nothing_to_do"`
}

// Down removes exactly what a lab's state says netlab made, restores the host
// knobs the lab held, and deletes the state. Without state (or with state
// lost), it removes the namespaces named <lab>-* that carry netlab's marker
// for this lab, and never others. A second Down succeeds with NothingToDo.
func Down(ctx context.Context, name string, opts Options) (*DownReport, error) {
	if err := topology.CheckLabName(name); err != nil {
		return nil, err
	}
	if err := CheckPrivileges(CapNetAdmin, CapSysAdmin); err != nil {
		return nil, err
	}
	store := opts.store()
	lock, err := store.Lock(name)
	if err != nil {
		return nil, &EnvError{Err: err}
	}
	defer store.Unlock(name, lock)
	_ = store.Append(name, state.Record{Op: state.OpDownBegin})
	return teardown(store, opts.ledger(), name, opts.holder(name), lock, opts.log())
}

// teardown is shared by Down and by Up's rollback. The caller holds the lock.
func teardown(store *state.Store, ledger *hostknob.Ledger, lab, holder string, lock *state.Lock, log *slog.Logger) (*DownReport, error) {
	rep := &DownReport{Lab: lab, Removed: []string{}}
	journal, jerr := store.Journal(lab)
	snap, serr := store.Load(lab)
	known := map[string]bool{} // namespaces netlab recorded intent for
	runIDs := map[string]bool{}
	for _, r := range journal {
		if r.Op == state.OpNetns {
			known[r.Name] = true
		}
		if r.RunID != "" {
			runIDs[r.RunID] = true
		}
	}
	if snap != nil {
		for _, ns := range snap.Namespaces {
			known[ns.Name] = true
		}
		runIDs[snap.RunID] = true
	}
	// Without a usable record, find the lab's marked namespaces by name.
	if len(known) == 0 {
		names, err := nsutil.List()
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", nsutil.RunDir, err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, lab+"-") && !strings.Contains(n[len(lab)+1:], "-") {
				known[n] = false // candidate: deleted only if marked for this lab
			}
		}
	}
	var errs []error
	if jerr != nil {
		errs = append(errs, fmt.Errorf("read journal: %w", jerr))
	}
	if serr != nil {
		log.Warn("state snapshot unreadable; using the journal", "err", serr)
	}
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	// Which namespaces outlive their name because another process holds
	// them: only those need their links (and firewall tables) deleted one
	// by one; the others die with the name, and the kernel removes their
	// links in one batch (one veth delete costs an RCU barrier: ~25 ms).
	held, herr := nsutil.HeldByOthers()
	if herr != nil {
		log.Warn("cannot tell which namespaces other processes hold; deleting every link explicitly", "err", herr)
		held = nil
	}
	// Namespaces go in parallel (each is a few syscalls and a netlink
	// round trip); the report keeps name order.
	type outcome struct {
		removed bool
		skip    string
		err     error
	}
	results := make([]outcome, len(names))
	parallel(context.Background(), len(names), DefaultWorkers(), func(i int) {
		n := names[i]
		removed, skip, err := removeNetns(lab, n, known[n], held)
		results[i] = outcome{removed, skip, err}
	})
	for i, r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case r.skip != "":
			rep.Skipped = append(rep.Skipped, names[i]+": "+r.skip)
		case r.removed:
			rep.Removed = append(rep.Removed, names[i])
		}
	}
	restored, err := ledger.Release(holder)
	if err != nil {
		errs = append(errs, err)
	}
	rep.Restored = restored
	hadState := len(journal) > 0 || snap != nil
	if len(errs) == 0 {
		if err := store.Remove(lab, lock); err != nil {
			errs = append(errs, err)
		}
	}
	// A down that found only its own begin record did nothing.
	onlyDown := true
	for _, r := range journal {
		if r.Op != state.OpDownBegin {
			onlyDown = false
		}
	}
	rep.NothingToDo = (onlyDown || !hadState) && len(rep.Removed) == 0 && len(rep.Restored) == 0 && len(rep.Skipped) == 0
	return rep, errors.Join(errs...)
}

// removeNetns deletes one namespace if it carries this lab's marker. journaled
// says netlab recorded the intent to create it (so a leftover empty mount
// point is ours too). held lists the namespaces other processes hold (nil:
// unknown, treat every one as held).
func removeNetns(lab, name string, journaled bool, held map[uint64]bool) (removed bool, skip string, err error) {
	mounted, err := nsutil.IsMounted(name)
	if err != nil {
		return false, "", fmt.Errorf("namespace %s: %w", name, err)
	}
	if !mounted {
		fi, statErr := os.Lstat(nsutil.Path(name))
		if statErr != nil {
			return false, "", nil // never created, or already gone
		}
		if journaled && fi.Mode().IsRegular() && fi.Size() == 0 {
			// A crash between creating the mount point and mounting it.
			return true, "", nsutil.DeleteNamed(name)
		}
		return false, "not a mounted namespace; left alone", nil
	}
	ns, err := nsutil.Open(name)
	if err != nil {
		return false, "", err
	}
	defer ns.Close()
	h, err := nsutil.Handle(ns)
	if err != nil {
		return false, "", fmt.Errorf("namespace %s: %w", name, err)
	}
	defer h.Close()
	alias, err := loAlias(h, name)
	if err != nil {
		return false, "", err
	}
	if !strings.HasPrefix(alias, MarkerPrefix+lab+":") {
		return false, fmt.Sprintf("no netlab marker for lab %s (lo alias %q); not netlab's, left alone", lab, alias), nil
	}
	ino, err := nsutil.NetnsInode(name)
	if err != nil {
		return false, "", err
	}
	if held != nil && !held[ino] {
		// Nobody else holds it: it dies with its name, links and all.
		return true, "", nsutil.DeleteNamed(name)
	}
	// Delete the lab's links explicitly so they go even though another
	// process still holds the namespace open.
	links, err := h.LinkList()
	if err != nil {
		return false, "", fmt.Errorf("namespace %s: list links: %w", name, err)
	}
	for _, l := range links {
		if l.Type() == "veth" || l.Type() == "bridge" {
			// A veth whose peer was deleted first is gone already (ENODEV).
			if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				return false, "", fmt.Errorf("namespace %s: delete %s: %w", name, l.Attrs().Name, err)
			}
		}
	}
	if err := deleteFirewall(ns); err != nil {
		return false, "", fmt.Errorf("namespace %s: %w", name, err)
	}
	if err := nsutil.DeleteNamed(name); err != nil {
		return false, "", err
	}
	return true, "", nil
}

// deleteFirewall removes netlab's nftables tables, for the same reason as
// the links. A kernel without nftables has none to remove.
func deleteFirewall(ns netns.NsHandle) error {
	c, err := firewall.Open(ns)
	if err != nil {
		return nil
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Delete(ctx); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EPROTONOSUPPORT) {
		return err
	}
	return nil
}
