package lab

import (
	"fmt"
	"path"
	"strconv"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/topology"
)

// effectiveWarnings reads back rp_filter and accept_local where a lab
// declared them and says so when the kernel's effective value differs from a
// declared one: rp_filter is max(conf.all, conf.<dev>), accept_local is
// conf.all || conf.<dev>.
func (a *applier) effectiveWarnings(t *topology.Topo) []string {
	var out []string
	for _, n := range t.Nodes {
		h := a.nodes[n.Name]
		if h == nil {
			continue
		}
		for _, leaf := range []string{"rp_filter", "accept_local"} {
			allDeclared := declared(n.Sysctls, "net/ipv4/conf/all/"+leaf)
			for _, i := range n.Ifaces {
				if i.Kind == topology.IfLo {
					continue
				}
				devPath := path.Join("net/ipv4/conf", i.Name, leaf)
				devDeclared := declared(i.Sysctls, devPath)
				if allDeclared == "" && devDeclared == "" {
					continue
				}
				allV, err1 := readInt(h, "net/ipv4/conf/all/"+leaf)
				devV, err2 := readInt(h, devPath)
				if err1 != nil || err2 != nil {
					continue
				}
				eff := max(allV, devV)
				rule := "max(all, " + i.Name + ")"
				if leaf == "accept_local" {
					eff, rule = 0, "all || "+i.Name
					if allV != 0 || devV != 0 {
						eff = 1
					}
				}
				for _, d := range []struct{ who, v string }{{"conf.all", allDeclared}, {"conf." + i.Name, devDeclared}} {
					if d.v == "" {
						continue
					}
					if dv, err := strconv.Atoi(d.v); err == nil && dv != eff {
						out = append(out, fmt.Sprintf("node %s: %s: effective %s is %d = %s with all=%d, %s=%d; declared %s.%s=%d",
							n.Name, i.Name, leaf, eff, rule, allV, i.Name, devV, d.who, leaf, dv))
						break
					}
				}
			}
		}
	}
	return out
}

func declared(ss []topology.Sysctl, p string) string {
	for _, s := range ss {
		if s.Path == p {
			return s.Value
		}
	}
	return ""
}

func readInt(h *nodeHandle, p string) (int, error) {
	s, err := nsutil.ReadSysctl(h.ns, p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}
