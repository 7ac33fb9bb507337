package lab

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/topology"
)

// Why a lab is a cleanup candidate.
const (
	CleanupCrashed  = "crashed"  // state left by an up/down that did not finish
	CleanupOrphaned = "orphaned" // marked namespaces, but no state (the runtime directory was lost)
	CleanupStale    = "stale"    // state of a lab none of whose namespaces exist any more
	CleanupUp       = "up"       // a healthy lab (removed only with All or by name)
)

// CleanupItem is one lab cleanup found.
type CleanupItem struct {
	Lab    string `json:"lab"`
	Reason string `json:"reason"`
	Phase  string `json:"phase,omitempty"`
	// Namespaces are the lab's namespaces that exist now and carry its
	// marker.
	Namespaces []string `json:"namespaces"`
	// Action is "remove", "skip: <why>" or, after a run, "removed".
	Action string      `json:"action"`
	Report *DownReport `json:"report,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// CleanupOptions select what Cleanup removes.
type CleanupOptions struct {
	// Labs names labs to remove whatever their state (like down).
	Labs []string
	// All removes every netlab lab on the machine, healthy ones included.
	All bool
	// DryRun only reports.
	DryRun bool
}

// Cleanup finds netlab's labs on this machine, from the state directory and
// from the ownership markers of the namespaces in /run/netns, and removes
// the ones left by crashes (an up or down that never finished), orphaned
// namespaces (marked, but their state is gone) and stale state (a lab whose
// namespaces are gone); with All, every lab; with Labs, those. Unmarked
// namespaces are never touched, whatever their names. A lab whose lock a
// live netlab holds is skipped. Removal is Down's.
func Cleanup(ctx context.Context, co CleanupOptions, opts Options) ([]CleanupItem, error) {
	for _, n := range co.Labs {
		if err := topology.CheckLabName(n); err != nil {
			return nil, err
		}
	}
	if err := CheckPrivileges(CapNetAdmin, CapSysAdmin); err != nil {
		return nil, err
	}
	store := opts.store()
	items := map[string]*CleanupItem{}
	item := func(lab string) *CleanupItem {
		if items[lab] == nil {
			items[lab] = &CleanupItem{Lab: lab, Namespaces: []string{}}
		}
		return items[lab]
	}
	marked, err := markedNamespaces()
	if err != nil {
		return nil, err
	}
	for ns, lab := range marked {
		it := item(lab)
		it.Namespaces = append(it.Namespaces, ns)
	}
	labs, err := store.Labs()
	if err != nil {
		return nil, fmt.Errorf("runtime directory: %w", err)
	}
	hasState := map[string]bool{}
	for _, lab := range labs {
		hasState[lab] = true
		it := item(lab)
		snap, err := store.Load(lab)
		switch {
		case err != nil:
			it.Reason, it.Phase = CleanupCrashed, "unreadable state"
		case snap == nil:
			it.Reason, it.Phase = CleanupCrashed, "no snapshot (interrupted)"
		case snap.Phase != "up":
			it.Reason, it.Phase = CleanupCrashed, snap.Phase
		case len(it.Namespaces) == 0 && len(snap.Namespaces) > 0:
			it.Reason, it.Phase = CleanupStale, snap.Phase
		default:
			it.Reason, it.Phase = CleanupUp, snap.Phase
		}
	}
	for lab, it := range items {
		if !hasState[lab] {
			it.Reason = CleanupOrphaned
		}
	}
	named := map[string]bool{}
	for _, n := range co.Labs {
		named[n] = true
		item(n) // a named lab with nothing left is reported too
		if items[n].Reason == "" {
			items[n].Reason = "not found"
		}
	}
	var out []CleanupItem
	for lab, it := range items {
		sort.Strings(it.Namespaces)
		switch {
		case len(co.Labs) > 0 && !named[lab]:
			continue
		case it.Reason == "not found":
			it.Action = "skip: no state and no marked namespace"
		case it.Reason == CleanupUp && !co.All && !named[lab]:
			it.Action = "skip: up (use --all or name it)"
		default:
			it.Action = "remove"
			if busy, err := store.Busy(lab); err != nil {
				it.Action, it.Error = "skip: lock unreadable", err.Error()
			} else if busy {
				it.Action = "skip: a running netlab holds its lock"
			}
		}
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lab < out[j].Lab })
	if co.DryRun {
		return out, nil
	}
	var errs []error
	for i := range out {
		if out[i].Action != "remove" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		rep, err := Down(ctx, out[i].Lab, opts)
		out[i].Report = rep
		if err != nil {
			out[i].Error = err.Error()
			errs = append(errs, fmt.Errorf("lab %s: %w", out[i].Lab, err))
			continue
		}
		out[i].Action = "removed"
	}
	return out, errors.Join(errs...)
}

// markedNamespaces maps every named namespace that carries a netlab marker
// to the lab the marker names. Namespaces without one are left out (and
// never touched).
func markedNamespaces() (map[string]string, error) {
	names, err := nsutil.List()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", nsutil.RunDir, err)
	}
	out := map[string]string{}
	for _, name := range names {
		if mounted, err := nsutil.IsMounted(name); err != nil || !mounted {
			continue
		}
		alias, err := namespaceAlias(name)
		if err != nil || !strings.HasPrefix(alias, MarkerPrefix) {
			continue
		}
		lab, _, ok := strings.Cut(strings.TrimPrefix(alias, MarkerPrefix), ":")
		if !ok || topology.CheckLabName(lab) != nil || !strings.HasPrefix(name, lab+"-") {
			continue // a marker that does not match its own name is not ours to judge
		}
		out[name] = lab
	}
	return out, nil
}

// namespaceAlias reads a named namespace's lo alias.
func namespaceAlias(name string) (string, error) {
	ns, err := nsutil.Open(name)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	h, err := nsutil.Handle(ns)
	if err != nil {
		return "", err
	}
	defer h.Close()
	return loAlias(h, name)
}
