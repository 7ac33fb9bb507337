package lab

import (
	"fmt"

	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/topology"
)

// OpenNode opens a running lab's node namespace, after checking the lab
// name, the caller's privileges, and netlab's ownership marker on the
// namespace. The caller closes the handle.
func OpenNode(labName, node string, opts Options) (netns.NsHandle, error) {
	if err := topology.CheckLabName(labName); err != nil {
		return netns.None(), err
	}
	if err := CheckPrivileges(CapSysAdmin); err != nil {
		return netns.None(), err
	}
	return openNode(labName, node, opts)
}

// Nodes lists a running lab's nodes in the order they were created.
func Nodes(labName string, opts Options) ([]string, error) {
	if err := topology.CheckLabName(labName); err != nil {
		return nil, err
	}
	snap, err := opts.store().Load(labName)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		return nil, fmt.Errorf("lab %s: %w", labName, ErrNotUp)
	}
	out := make([]string, 0, len(snap.Namespaces))
	for _, ns := range snap.Namespaces {
		out = append(out, ns.Node)
	}
	return out, nil
}
