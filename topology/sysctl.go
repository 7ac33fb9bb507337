package topology

import (
	"fmt"
	"strings"
	"unicode"
)

// SysctlKey is a canonicalised sysctl key.
type SysctlKey struct {
	// Key is the dotted form (interface names with dots written with '/').
	Key string
	// Path is relative to /proc/sys, e.g. net/ipv4/conf/eth0.1/rp_filter.
	Path string
	// Iface is set for per-interface keys (net.ipv{4,6}.{conf,neigh}.<if>.*).
	Iface string
	// Section is "conf" or "neigh" for per-interface and all/default keys.
	Section string
	// Family is "ipv4" or "ipv6" for conf/neigh keys.
	Family string
	// Leaf is the last element (rp_filter, base_reachable_time_ms, ...).
	Leaf string
	// RootOnly marks keys that exist only in the root namespace
	// (net.ipv{4,6}.neigh.default.*).
	RootOnly bool
	// Global marks conf.all / conf.default keys (set before links exist).
	Global bool
}

// ParseSysctlKey canonicalises a dotted sysctl key and refuses anything that
// does not resolve under /proc/sys/net/ (path tricks included).
func ParseSysctlKey(key string) (SysctlKey, error) {
	k := strings.TrimSpace(key)
	if k == "" {
		return SysctlKey{}, fmt.Errorf("empty sysctl key")
	}
	if strings.Contains(k, "/") && !strings.Contains(k, ".") {
		return SysctlKey{}, fmt.Errorf("sysctl key %q: use the dotted form (net.ipv4.ip_forward); '/' only stands for a dot inside an interface name", key)
	}
	parts := strings.Split(k, ".")
	elems := make([]string, len(parts))
	for i, p := range parts {
		e := strings.ReplaceAll(p, "/", ".")
		if e == "" || e == "." || e == ".." || strings.HasPrefix(e, ".") && strings.Trim(e, ".") == "" {
			return SysctlKey{}, fmt.Errorf("sysctl key %q: empty or relative element %q", key, p)
		}
		for _, r := range e {
			if r < 0x20 || r == 0x7f || unicode.IsSpace(r) || r == '*' {
				return SysctlKey{}, fmt.Errorf("sysctl key %q: element %q contains %q", key, p, r)
			}
		}
		if strings.Contains(e, "..") {
			return SysctlKey{}, fmt.Errorf("sysctl key %q: element %q contains '..'", key, p)
		}
		elems[i] = e
	}
	if elems[0] != "net" || len(elems) < 2 {
		return SysctlKey{}, fmt.Errorf("sysctl key %q is not under net.: netlab only sets network sysctls (/proc/sys/net/)", key)
	}
	if len(elems) > 5 && (elems[1] == "ipv4" || elems[1] == "ipv6") && (elems[2] == "conf" || elems[2] == "neigh") {
		return SysctlKey{}, fmt.Errorf("sysctl key %q has too many elements; write the dots of an interface name as '/' (net.%s.%s.%s.%s)",
			key, elems[1], elems[2], strings.Join(parts[3:len(parts)-1], "/"), parts[len(parts)-1])
	}
	sk := SysctlKey{Key: k, Path: strings.Join(elems, "/"), Leaf: elems[len(elems)-1]}
	if len(elems) == 5 && (elems[1] == "ipv4" || elems[1] == "ipv6") && (elems[2] == "conf" || elems[2] == "neigh") {
		sk.Family, sk.Section = elems[1], elems[2]
		switch elems[3] {
		case "all":
			sk.Global = true
		case "default":
			if sk.Section == "neigh" {
				sk.RootOnly = true
			} else {
				sk.Global = true
			}
		default:
			sk.Iface = elems[3]
		}
	}
	return sk, nil
}

// msKey reports whether a sysctl is stored in jiffies but written in ms.
func msKey(leaf string) bool { return strings.HasSuffix(leaf, "_ms") }

// IsJiffyMS reports whether the kernel stores this sysctl in jiffies while it
// is read and written in milliseconds, so a read-back may be rounded up by up
// to one jiffy.
func (k SysctlKey) IsJiffyMS() bool { return msKey(k.Leaf) }

// Sysctl is one resolved sysctl write.
type Sysctl struct {
	SysctlKey
	Value string
	// From is the lab-file path that declared it, or "" for a kind default.
	From string
}
