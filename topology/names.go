package topology

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

var (
	labNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	nodeNameRE = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// Verbs are words a lab may not be named, because the CLI reads them as verbs
// after a lab name.
var Verbs = []string{"watch", "params", "get", "add", "set", "del", "flush", "use"}

// ErrBadName marks a name that breaks netlab's naming rules.
var ErrBadName = errors.New("invalid name")

// CheckLabName reports why name cannot name a lab, or nil (wrapping ErrBadName).
func CheckLabName(name string) error {
	if err := checkLabName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrBadName, err)
	}
	return nil
}

func checkLabName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a lab needs a name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("lab name %q is %d bytes; at most %d", name, len(name), MaxNameLen)
	case !labNameRE.MatchString(name):
		return fmt.Errorf("lab name %q must match [a-z0-9][a-z0-9-]*", name)
	}
	for _, v := range Verbs {
		if name == v {
			return fmt.Errorf("lab name %q is a netlab verb (%s); pick another", name, strings.Join(Verbs, ", "))
		}
	}
	return nil
}

// CheckNodeName reports why name cannot name a node, or nil.
func CheckNodeName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty node name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("node name %q is %d bytes; at most %d", name, len(name), MaxNameLen)
	case !nodeNameRE.MatchString(name):
		return fmt.Errorf("node name %q must match [a-z0-9_]+ (no '-': namespaces are named <lab>-<node>)", name)
	}
	return nil
}

// CheckIfName reports why name cannot name a Linux interface, or nil. The
// kernel's rules (dev_valid_name), plus "all" and "default", which name
// sysctl sections.
func CheckIfName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty interface name")
	case len(name) > MaxIfNameLen:
		return fmt.Errorf("interface name %q is %d bytes; the kernel allows at most %d", name, len(name), MaxIfNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed by the kernel", name)
	case name == "all" || name == "default":
		return fmt.Errorf("interface name %q would clash with the sysctl section of that name", name)
	}
	for _, r := range name {
		if r == '/' || r == ':' || unicode.IsSpace(r) || r < 0x20 || r == 0x7f {
			return fmt.Errorf("interface name %q contains %q, which the kernel does not allow", name, r)
		}
	}
	return nil
}

// Netns is the name of a node's network namespace.
func Netns(lab, node string) string { return lab + "-" + node }

// WithSuffix renames the lab to <name>-<suffix> (CI jobs that share a
// machine give each run its own suffix, so their labs and namespaces never
// collide), the resolved namespaces included; the result must still be a
// valid lab name.
func (l *Lab) WithSuffix(suffix string) error {
	if suffix == "" {
		return nil
	}
	if !labNameRE.MatchString(suffix) || strings.HasPrefix(suffix, "-") {
		return fmt.Errorf("%w: suffix %q must match [a-z0-9][a-z0-9-]*", ErrBadName, suffix)
	}
	name := l.Name + "-" + suffix
	if err := CheckLabName(name); err != nil {
		return fmt.Errorf("lab %s with suffix %q: %w", l.Name, suffix, err)
	}
	l.Name = name
	if t := l.topo; t != nil {
		t.Name = name
		for _, n := range t.Nodes {
			n.Netns = Netns(name, n.Name)
		}
	}
	return nil
}
