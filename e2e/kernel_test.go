package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// operDeadline bounds the wait for an interface's operstate: the kernel's
// linkwatch publishes carrier changes in batches at most once a second
// (linkwatch_fire_event, HZ delay), so a few seconds is ample.
const operDeadline = 3 * time.Second

// ---- netlink witness -------------------------------------------------------

// nsHandle is an open namespace with a netlink handle in it.
type nsHandle struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
}

func (n *nsHandle) close() {
	if n.h != nil {
		n.h.Close()
		n.h = nil
	}
	if n.ns.IsOpen() {
		n.ns.Close()
	}
}

// openNS opens a named namespace and a netlink handle in it; both are closed
// in t.Cleanup (an open netlink socket keeps a namespace alive).
func openNS(t testing.TB, name string) *nsHandle {
	t.Helper()
	ns, err := netns.GetFromPath(filepath.Join(netnsDir, name))
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		t.Fatalf("namespace %s: netlink handle: %v", name, err)
	}
	n := &nsHandle{name: name, ns: ns, h: h}
	t.Cleanup(n.close)
	return n
}

// openLab opens every node namespace of a lab.
func openLab(t testing.TB, e *expLab) map[string]*nsHandle {
	t.Helper()
	out := map[string]*nsHandle{}
	for _, n := range e.Nodes {
		out[n.Name] = openNS(t, n.NS)
	}
	return out
}

// labKinds are the link kinds netlab creates.
func labKind(k string) bool { return k == "veth" || k == "bridge" }

// checkLabLinkSet asserts that got (the veth/bridge names one witness saw
// in a node) is exactly the node's declared veths and bridges.
func checkLabLinkSet(t testing.TB, where string, got []string, n *expNode) {
	t.Helper()
	var want []string
	for _, i := range n.Ifaces {
		if labKind(i.Kind) {
			want = append(want, i.Name)
		}
	}
	got = slices.Clone(got)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: veth/bridge links %v, want %v", where, got, want)
	}
}

// waitOperUp polls a link until its operstate is UP.
func waitOperUp(t testing.TB, n *nsHandle, name string) {
	t.Helper()
	deadline := time.Now().Add(operDeadline)
	for {
		l, err := n.h.LinkByName(name)
		if err != nil {
			t.Errorf("%s: %s: %v", n.name, name, err)
			return
		}
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %s: operstate %s, want up within %v", n.name, name, l.Attrs().OperState, operDeadline)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// operShouldBeUp says whether an interface must reach operstate UP: a veth
// when both ends are up, a bridge without STP when one of its ports will.
func operShouldBeUp(e *expLab, i *expIface) bool {
	if !i.Up {
		return false
	}
	switch i.Kind {
	case "veth":
		p := e.peerOf(i)
		return p != nil && p.Up
	case "bridge":
		if i.STP {
			return false
		}
		n := e.node(i.Node)
		for _, p := range i.Ports {
			if pi := n.iface(p); pi != nil && operShouldBeUp(e, pi) {
				return true
			}
		}
	}
	return false
}

// waitLabOper waits until every interface that must be operationally up is.
func waitLabOper(t testing.TB, e *expLab, hs map[string]*nsHandle) {
	t.Helper()
	for _, n := range e.Nodes {
		for _, i := range n.Ifaces {
			if operShouldBeUp(e, i) {
				waitOperUp(t, hs[n.Name], i.Name)
			}
		}
	}
}

// checkNetlink checks a running lab through netlink.
func checkNetlink(t *testing.T, e *expLab, hs map[string]*nsHandle) {
	t.Helper()
	for _, n := range e.Nodes {
		nh := hs[n.Name]
		links, err := nh.h.LinkList()
		if err != nil {
			t.Fatalf("%s: list links: %v", n.NS, err)
		}
		byName := map[string]netlink.Link{}
		byIndex := map[int]netlink.Link{}
		for _, l := range links {
			byName[l.Attrs().Name] = l
			byIndex[l.Attrs().Index] = l
		}
		// Exactly the declared veths and bridges, nothing else of netlab's.
		var got []string
		for _, l := range links {
			if labKind(l.Type()) {
				got = append(got, l.Attrs().Name)
			}
		}
		checkLabLinkSet(t, "netlink: "+n.NS, got, n)
		for _, i := range n.Ifaces {
			where := fmt.Sprintf("netlink: %s: %s", n.NS, i.Name)
			l := byName[i.Name]
			if l == nil {
				t.Errorf("%s: missing", where)
				continue
			}
			a := l.Attrs()
			if i.Kind == "lo" {
				if !strings.HasPrefix(a.Alias, "netlab:"+e.Name+":") {
					t.Errorf("%s: alias %q, want the ownership marker netlab:%s:<run>", where, a.Alias, e.Name)
				}
			} else if l.Type() != i.Kind {
				t.Errorf("%s: kind %s, want %s", where, l.Type(), i.Kind)
			}
			if i.MAC != "" && a.HardwareAddr.String() != i.MAC {
				t.Errorf("%s: mac %s, want %s", where, a.HardwareAddr, i.MAC)
			}
			if i.MTU != 0 && a.MTU != i.MTU {
				t.Errorf("%s: mtu %d, want %d", where, a.MTU, i.MTU)
			}
			if up := a.Flags&unix.IFF_UP != 0; up != i.Up {
				t.Errorf("%s: admin up %v, want %v", where, up, i.Up)
			}
			if operShouldBeUp(e, i) && a.OperState != netlink.OperUp {
				t.Errorf("%s: operstate %s, want up", where, a.OperState)
			}
			// Master.
			master := ""
			if a.MasterIndex != 0 {
				if m := byIndex[a.MasterIndex]; m != nil {
					master = m.Attrs().Name
				} else {
					master = fmt.Sprintf("ifindex %d (not in %s)", a.MasterIndex, n.NS)
				}
			}
			if master != i.Master {
				t.Errorf("%s: master %q, want %q", where, master, i.Master)
			}
			checkAddrsNetlink(t, where, nh, l, i)
			switch i.Kind {
			case "veth":
				checkPeerNetlink(t, where, e, hs, nh, l, i)
			case "bridge":
				stp, ageing, err := bridgeAttrs(nh.ns, a.Index)
				if err != nil {
					t.Errorf("%s: read bridge attributes: %v", where, err)
					break
				}
				if want := b2u(i.STP); stp != want {
					t.Errorf("%s: IFLA_BR_STP_STATE %d, want %d", where, stp, want)
				}
				if ageing != i.AgeingCS {
					t.Errorf("%s: IFLA_BR_AGEING_TIME %d, want %d (centiseconds)", where, ageing, i.AgeingCS)
				}
				if br, ok := l.(*netlink.Bridge); !ok || br.AgeingTime == nil {
					t.Errorf("%s: netlink.Bridge has no ageing time (%T)", where, l)
				} else if *br.AgeingTime != i.AgeingCS {
					t.Errorf("%s: netlink.Bridge ageing time %d, want %d", where, *br.AgeingTime, i.AgeingCS)
				}
			}
		}
	}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func checkAddrsNetlink(t *testing.T, where string, nh *nsHandle, l netlink.Link, i *expIface) {
	t.Helper()
	addrs, err := nh.h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Errorf("%s: list addresses: %v", where, err)
		return
	}
	for _, want := range i.Addrs {
		var found *netlink.Addr
		for k := range addrs {
			ip, ok := netip.AddrFromSlice(addrs[k].IP)
			ones, _ := addrs[k].Mask.Size()
			if ok && ip.Unmap() == want.Addr() && ones == want.Bits() {
				found = &addrs[k]
			}
		}
		if found == nil {
			t.Errorf("%s: address %s missing (have %v)", where, want, addrs)
			continue
		}
		if want.Addr().Is6() {
			if found.Flags&unix.IFA_F_TENTATIVE != 0 {
				t.Errorf("%s: %s is tentative", where, want)
			}
			if !i.DAD && found.Flags&unix.IFA_F_NODAD == 0 {
				t.Errorf("%s: %s lacks IFA_F_NODAD (flags %#x)", where, want, found.Flags)
			}
		}
	}
}

func checkPeerNetlink(t *testing.T, where string, e *expLab, hs map[string]*nsHandle, nh *nsHandle, l netlink.Link, i *expIface) {
	t.Helper()
	a := l.Attrs()
	ph := hs[i.PeerNode]
	if ph == nil {
		t.Errorf("%s: peer node %s not open", where, i.PeerNode)
		return
	}
	if i.PeerNode == i.Node {
		if a.NetNsID != -1 {
			t.Errorf("%s: peer should be in the same namespace, link netnsid %d", where, a.NetNsID)
		}
	} else {
		id, err := nh.h.GetNetNsIdByFd(int(ph.ns))
		if err != nil {
			t.Errorf("%s: nsid of %s: %v", where, ph.name, err)
			return
		}
		if id < 0 || a.NetNsID != id {
			t.Errorf("%s: peer netnsid %d, want %d (the id of %s here)", where, a.NetNsID, id, ph.name)
			return
		}
	}
	peer, err := ph.h.LinkByIndex(a.ParentIndex)
	if err != nil {
		t.Errorf("%s: peer ifindex %d in %s: %v", where, a.ParentIndex, ph.name, err)
		return
	}
	if peer.Attrs().Name != i.PeerIface || peer.Type() != "veth" {
		t.Errorf("%s: peer is %s %s in %s, want veth %s", where, peer.Type(), peer.Attrs().Name, ph.name, i.PeerIface)
	}
}

// bridgeAttrs reads IFLA_BR_STP_STATE and IFLA_BR_AGEING_TIME with a raw
// RTM_GETLINK in ns (vishvananda/netlink does not parse the STP state).
func bridgeAttrs(ns netns.NsHandle, index int) (stp, ageing uint32, err error) {
	s, err := nl.GetNetlinkSocketAt(ns, rootNS, unix.NETLINK_ROUTE)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	if err := s.SetReceiveTimeout(&unix.Timeval{Sec: 5}); err != nil {
		return 0, 0, err
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	if err := s.Send(req); err != nil {
		return 0, 0, err
	}
	for {
		msgs, _, err := s.Receive()
		if err != nil {
			return 0, 0, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				code := int32(nl.NativeEndian().Uint32(m.Data[0:4]))
				return 0, 0, fmt.Errorf("RTM_GETLINK: %w", syscall.Errno(-code))
			case unix.RTM_NEWLINK:
				var gotSTP, gotAgeing bool
				attrs, err := nl.ParseRouteAttr(m.Data[unix.SizeofIfInfomsg:])
				if err != nil {
					return 0, 0, err
				}
				for _, at := range attrs {
					if at.Attr.Type&nl.NLA_TYPE_MASK != unix.IFLA_LINKINFO {
						continue
					}
					infos, err := nl.ParseRouteAttr(at.Value)
					if err != nil {
						return 0, 0, err
					}
					for _, in := range infos {
						if in.Attr.Type&nl.NLA_TYPE_MASK != nl.IFLA_INFO_DATA {
							continue
						}
						data, err := nl.ParseRouteAttr(in.Value)
						if err != nil {
							return 0, 0, err
						}
						for _, d := range data {
							switch d.Attr.Type & nl.NLA_TYPE_MASK {
							case nl.IFLA_BR_STP_STATE:
								stp, gotSTP = nl.NativeEndian().Uint32(d.Value), true
							case nl.IFLA_BR_AGEING_TIME:
								ageing, gotAgeing = nl.NativeEndian().Uint32(d.Value), true
							}
						}
					}
				}
				if !gotSTP || !gotAgeing {
					return 0, 0, fmt.Errorf("RTM_NEWLINK for ifindex %d has no bridge stp_state/ageing_time", index)
				}
				return stp, ageing, nil
			}
		}
	}
}

// ---- ip -j witness ---------------------------------------------------------

type ipLink struct {
	IfIndex     int      `json:"ifindex"`
	IfName      string   `json:"ifname"`
	Flags       []string `json:"flags"`
	MTU         int      `json:"mtu"`
	OperState   string   `json:"operstate"`
	Master      string   `json:"master"`
	Address     string   `json:"address"`
	Link        string   `json:"link"`
	LinkIndex   int      `json:"link_index"`
	LinkNetnsID *int     `json:"link_netnsid"`
	IfAlias     string   `json:"ifalias"`
	LinkInfo    *struct {
		InfoKind string         `json:"info_kind"`
		InfoData map[string]any `json:"info_data"`
	} `json:"linkinfo"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Tentative bool   `json:"tentative"`
		NoDAD     bool   `json:"nodad"`
	} `json:"addr_info"`
	Stats64 *struct {
		RX struct {
			Bytes   uint64 `json:"bytes"`
			Packets uint64 `json:"packets"`
		} `json:"rx"`
		TX struct {
			Bytes   uint64 `json:"bytes"`
			Packets uint64 `json:"packets"`
		} `json:"tx"`
	} `json:"stats64"`
}

func (l *ipLink) kind() string {
	if l.LinkInfo == nil {
		return ""
	}
	return l.LinkInfo.InfoKind
}

func (l *ipLink) has(flag string) bool { return slices.Contains(l.Flags, flag) }

// ipOut runs ip and returns its stdout.
func ipOut(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", args...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// ipJSON runs ip -j ... and decodes its output (empty output is an empty list).
func ipJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := strings.TrimSpace(ipOut(t, append([]string{"-j"}, args...)...))
	if out == "" {
		out = "[]"
	}
	decodeJSON(t, "ip -j "+strings.Join(args, " "), out, v)
}

func ipLinks(t testing.TB, ns string, extra ...string) []ipLink {
	t.Helper()
	var links []ipLink
	args := []string{}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	ipJSON(t, &links, append(append(args, extra...), "link", "show")...)
	return links
}

// ipNetns lists named namespaces as `ip -j netns list` sees them.
func ipNetns(t testing.TB) map[string]bool {
	t.Helper()
	var l []struct {
		Name string `json:"name"`
	}
	ipJSON(t, &l, "netns", "list")
	out := map[string]bool{}
	for _, n := range l {
		out[n.Name] = true
	}
	return out
}

// checkIP checks a running lab through ip -j, independently of netlink.
func checkIP(t *testing.T, e *expLab) {
	t.Helper()
	named := ipNetns(t)
	for _, n := range e.Nodes {
		if !named[n.NS] {
			t.Errorf("ip netns list: %s missing", n.NS)
		}
	}
	// Every node's links (with -d for linkinfo) and addresses.
	links := map[string]map[string]*ipLink{}
	byIndex := map[string]map[int]*ipLink{}
	for _, n := range e.Nodes {
		links[n.NS], byIndex[n.NS] = map[string]*ipLink{}, map[int]*ipLink{}
		ls := ipLinks(t, n.NS, "-d")
		var withAddr []ipLink
		ipJSON(t, &withAddr, "-n", n.NS, "addr", "show")
		for k := range ls {
			l := &ls[k]
			for _, wa := range withAddr {
				if wa.IfIndex == l.IfIndex {
					l.AddrInfo = wa.AddrInfo
				}
			}
			links[n.NS][l.IfName] = l
			byIndex[n.NS][l.IfIndex] = l
		}
	}
	for _, n := range e.Nodes {
		var ids []struct {
			NSID int    `json:"nsid"`
			Name string `json:"name"`
		}
		ipJSON(t, &ids, "-n", n.NS, "netns", "list-id")
		idName := map[int]string{}
		for _, id := range ids {
			idName[id.NSID] = id.Name
		}
		var got []string
		for name, l := range links[n.NS] {
			if labKind(l.kind()) {
				got = append(got, name)
			}
		}
		checkLabLinkSet(t, "ip: "+n.NS, got, n)
		for _, i := range n.Ifaces {
			where := fmt.Sprintf("ip -n %s: %s", n.NS, i.Name)
			l := links[n.NS][i.Name]
			if l == nil {
				t.Errorf("%s: missing", where)
				continue
			}
			if i.Kind == "lo" {
				if !strings.HasPrefix(l.IfAlias, "netlab:"+e.Name+":") {
					t.Errorf("%s: ifalias %q, want netlab:%s:<run>", where, l.IfAlias, e.Name)
				}
			} else if l.kind() != i.Kind {
				t.Errorf("%s: info_kind %q, want %q", where, l.kind(), i.Kind)
			}
			if i.MAC != "" && l.Address != i.MAC {
				t.Errorf("%s: address %s, want %s", where, l.Address, i.MAC)
			}
			if i.MTU != 0 && l.MTU != i.MTU {
				t.Errorf("%s: mtu %d, want %d", where, l.MTU, i.MTU)
			}
			if l.has("UP") != i.Up {
				t.Errorf("%s: flags %v, want UP=%v", where, l.Flags, i.Up)
			}
			if operShouldBeUp(e, i) && l.OperState != "UP" {
				t.Errorf("%s: operstate %s, want UP", where, l.OperState)
			}
			if l.Master != i.Master {
				t.Errorf("%s: master %q, want %q", where, l.Master, i.Master)
			}
			for _, want := range i.Addrs {
				found := false
				for _, ai := range l.AddrInfo {
					a, err := netip.ParseAddr(ai.Local)
					if err != nil || a != want.Addr() || ai.PrefixLen != want.Bits() {
						continue
					}
					found = true
					if want.Addr().Is6() && ai.Tentative {
						t.Errorf("%s: %s is tentative", where, want)
					}
					if want.Addr().Is6() && !i.DAD && !ai.NoDAD {
						t.Errorf("%s: %s not nodad", where, want)
					}
				}
				if !found {
					t.Errorf("%s: address %s missing (have %+v)", where, want, l.AddrInfo)
				}
			}
			switch i.Kind {
			case "veth":
				peerNS := e.Name + "-" + i.PeerNode
				if i.PeerNode == i.Node {
					if l.LinkNetnsID != nil || l.Link != i.PeerIface {
						t.Errorf("%s: link %q netnsid %v, want peer %s in the same namespace", where, l.Link, l.LinkNetnsID, i.PeerIface)
					}
					break
				}
				if l.LinkNetnsID == nil {
					t.Errorf("%s: no link_netnsid: the peer is not in another namespace", where)
					break
				}
				if got := idName[*l.LinkNetnsID]; got != peerNS {
					t.Errorf("%s: peer namespace (nsid %d) is %q, want %s", where, *l.LinkNetnsID, got, peerNS)
				}
				p := byIndex[peerNS][l.LinkIndex]
				if p == nil || p.IfName != i.PeerIface {
					t.Errorf("%s: peer ifindex %d in %s is %v, want %s", where, l.LinkIndex, peerNS, p, i.PeerIface)
				}
			case "bridge":
				if l.LinkInfo == nil || l.LinkInfo.InfoData == nil {
					t.Errorf("%s: no linkinfo.info_data", where)
					break
				}
				d := l.LinkInfo.InfoData
				if v, ok := d["stp_state"].(float64); !ok || uint32(v) != b2u(i.STP) {
					t.Errorf("%s: stp_state %v, want %d", where, d["stp_state"], b2u(i.STP))
				}
				if v, ok := d["ageing_time"].(float64); !ok || uint32(v) != i.AgeingCS {
					t.Errorf("%s: ageing_time %v, want %d (centiseconds)", where, d["ageing_time"], i.AgeingCS)
				}
			}
		}
	}
}

// ---- sysctls ---------------------------------------------------------------

// readNSSysctl reads /proc/sys/<path> inside a namespace, through ip netns exec.
func readNSSysctl(t testing.TB, ns, path string) string {
	t.Helper()
	return strings.TrimSpace(ipOut(t, "netns", "exec", ns, "cat", filepath.Join("/proc/sys", path)))
}

// sysctlMatches compares a declared value with a read-back: field by field,
// and for *_ms keys allowing the kernel's rounding up to a whole jiffy (at
// most 10 ms for HZ >= 100).
func sysctlMatches(path, want, got string) bool {
	w, g := strings.Fields(want), strings.Fields(got)
	if slices.Equal(w, g) {
		return true
	}
	if strings.HasSuffix(path, "_ms") && len(w) == 1 && len(g) == 1 {
		wi, err1 := strconv.Atoi(w[0])
		gi, err2 := strconv.Atoi(g[0])
		return err1 == nil && err2 == nil && gi >= wi && gi-wi < 10
	}
	return false
}

func checkSysctls(t *testing.T, e *expLab) {
	t.Helper()
	for _, n := range e.Nodes {
		for p, want := range n.Sysctls {
			if got := readNSSysctl(t, n.NS, p); !sysctlMatches(p, want, got) {
				t.Errorf("%s: /proc/sys/%s = %q, want %q", n.NS, p, got, want)
			}
		}
	}
}

// checkDAD checks IPv6 duplicate address detection per interface, as the
// kernel reports it: accept_dad 0 (netlab's default, so addresses are
// usable at once) unless the interface asks for DAD (then on), for every
// interface with IPv6 whose key the lab does not declare itself.
func checkDAD(t *testing.T, e *expLab) {
	t.Helper()
	for _, n := range e.Nodes {
		if _, ok := n.Sysctls["net/ipv6/conf/default/accept_dad"]; ok {
			continue // the lab's own default: checkSysctls
		}
		for _, i := range n.Ifaces {
			p := "net/ipv6/conf/" + i.Name + "/accept_dad" // the directory keeps the dots
			if _, ok := n.Sysctls[p]; ok || i.Kind == "lo" || (i.MTU != 0 && i.MTU < 1280) {
				continue
			}
			got := readNSSysctl(t, n.NS, p)
			if on := got != "0"; on != i.DAD {
				t.Errorf("%s: %s: accept_dad %s, want DAD on=%v", n.NS, i.Name, got, i.DAD)
			}
		}
	}
}

func readHostSysctl(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc/sys", path))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// ---- the root namespace ----------------------------------------------------

// rootLink is one link of the root namespace.
type rootLink struct {
	Index      int
	Name, Kind string
}

// rootLinks snapshots the root namespace's links, through netlink and ip -j
// (both must agree on the set).
func rootLinks(t testing.TB) map[int]rootLink {
	t.Helper()
	h, err := netlink.NewHandleAt(rootNS, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ls, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]rootLink{}
	for _, l := range ls {
		out[l.Attrs().Index] = rootLink{l.Attrs().Index, l.Attrs().Name, l.Type()}
	}
	for _, l := range ipLinks(t, "", "-d") {
		if _, ok := out[l.IfIndex]; !ok {
			out[l.IfIndex] = rootLink{l.IfIndex, l.IfName, l.kind()}
		}
	}
	return out
}

// checkRootUntouched fails if a veth or bridge appeared in the root
// namespace since before was taken (netlab creates nothing there).
func checkRootUntouched(t testing.TB, before map[int]rootLink) {
	t.Helper()
	for idx, l := range rootLinks(t) {
		if b, ok := before[idx]; ok && b.Name == l.Name {
			continue
		}
		if labKind(l.Kind) {
			t.Errorf("root namespace: new %s link %s (ifindex %d): netlab must never create links there", l.Kind, l.Name, idx)
		}
	}
}

// ---- absence ---------------------------------------------------------------

// checkNothingOf asserts that no namespace named <lab>-* and no state
// directory of the lab exist (except the namespaces in keep).
func checkNothingOf(t testing.TB, lab string, keep ...string) {
	t.Helper()
	for ns := range ipNetns(t) {
		if strings.HasPrefix(ns, lab+"-") && !slices.Contains(keep, ns) {
			t.Errorf("namespace %s exists (ip netns list)", ns)
		}
	}
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), lab+"-") && !slices.Contains(keep, e.Name()) {
			t.Errorf("%s exists", filepath.Join(netnsDir, e.Name()))
		}
	}
	if exists(stateDirOf(lab)) {
		t.Errorf("state directory %s exists", stateDirOf(lab))
	}
}

// checkHeldEmpty checks, through handles opened while the lab was up, that
// the (now unnamed) namespaces hold no veth or bridge any more: down deletes
// the lab's links even when something still holds a namespace open.
func checkHeldEmpty(t testing.TB, hs map[string]*nsHandle) {
	t.Helper()
	for _, n := range hs {
		ls, err := n.h.LinkList()
		if err != nil {
			t.Errorf("%s (held open): list links: %v", n.name, err)
			continue
		}
		for _, l := range ls {
			if labKind(l.Type()) {
				t.Errorf("%s (held open after down): %s %s still exists", n.name, l.Type(), l.Attrs().Name)
			}
		}
	}
}

// ---- netlab status ---------------------------------------------------------

type statusJSON struct {
	Name    string `json:"name"`
	RunID   string `json:"run_id"`
	Phase   string `json:"phase"`
	File    string `json:"file"`
	Nodes   int    `json:"nodes"`
	Details []struct {
		Name       string `json:"name"`
		Namespace  string `json:"namespace"`
		Error      string `json:"error"`
		Interfaces []struct {
			Name      string   `json:"name"`
			Kind      string   `json:"kind"`
			MAC       string   `json:"mac"`
			MTU       int      `json:"mtu"`
			State     string   `json:"state"`
			Addresses []string `json:"addresses"`
			Peer      string   `json:"peer"`
			Master    string   `json:"master"`
		} `json:"interfaces"`
	} `json:"nodes_detail"`
	HostKnobs []hostKnobJSON `json:"host_knobs"`
}

type hostKnobJSON struct {
	Path     string   `json:"path"`
	Original string   `json:"original"`
	Value    string   `json:"value"`
	Holders  []string `json:"holders"`
}

type listJSON struct {
	Labs []struct {
		Name  string `json:"name"`
		RunID string `json:"run_id"`
		Phase string `json:"phase"`
		File  string `json:"file"`
		Nodes int    `json:"nodes"`
	} `json:"labs"`
}

func labStatus(t testing.TB, lab string) statusJSON {
	t.Helper()
	r := mustNetlab(t, "status", lab, "-o", "json")
	var st statusJSON
	decodeJSON(t, "netlab status -o json", r.stdout, &st)
	return st
}

// checkStatus compares `netlab status <lab> -o json` with the kernel
// (netlink) and with the lab file.
func checkStatus(t *testing.T, e *expLab, hs map[string]*nsHandle, file string) {
	t.Helper()
	st := labStatus(t, e.Name)
	if st.Name != e.Name || st.Phase != "up" || st.Nodes != len(e.Nodes) || st.RunID == "" || st.File != file {
		t.Errorf("status: name %q phase %q nodes %d run %q file %q; want %s, up, %d, a run id, %s", st.Name, st.Phase, st.Nodes, st.RunID, st.File, e.Name, len(e.Nodes), file)
	}
	if len(st.Details) != len(e.Nodes) {
		t.Errorf("status: %d nodes in nodes_detail, want %d", len(st.Details), len(e.Nodes))
	}
	for _, sn := range st.Details {
		n := e.node(sn.Name)
		if n == nil {
			t.Errorf("status: unknown node %q", sn.Name)
			continue
		}
		if sn.Namespace != n.NS || sn.Error != "" {
			t.Errorf("status: node %s: namespace %q error %q, want %s", sn.Name, sn.Namespace, sn.Error, n.NS)
		}
		kernel, err := hs[n.Name].h.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		var kn, sns []string
		for _, l := range kernel {
			kn = append(kn, l.Attrs().Name)
		}
		for _, si := range sn.Interfaces {
			sns = append(sns, si.Name)
		}
		sort.Strings(kn)
		sort.Strings(sns)
		if !slices.Equal(kn, sns) {
			t.Errorf("status: node %s interfaces %v; the kernel has %v", n.Name, sns, kn)
		}
		for _, si := range sn.Interfaces {
			where := fmt.Sprintf("status: %s: %s", n.Name, si.Name)
			kl, err := hs[n.Name].h.LinkByName(si.Name)
			if err != nil {
				continue // reported above
			}
			ka := kl.Attrs()
			if si.MTU != ka.MTU || (len(ka.HardwareAddr) > 0 && si.MAC != ka.HardwareAddr.String()) {
				t.Errorf("%s: mac %q mtu %d; kernel %s %d", where, si.MAC, si.MTU, ka.HardwareAddr, ka.MTU)
			}
			i := n.iface(si.Name)
			if i == nil {
				continue
			}
			if labKind(i.Kind) && si.Kind != i.Kind {
				t.Errorf("%s: kind %q, want %q", where, si.Kind, i.Kind)
			}
			if si.Master != i.Master {
				t.Errorf("%s: master %q, want %q", where, si.Master, i.Master)
			}
			wantPeer := ""
			if i.Kind == "veth" {
				wantPeer = i.PeerNode + ":" + i.PeerIface
			}
			if si.Peer != wantPeer {
				t.Errorf("%s: peer %q, want %q", where, si.Peer, wantPeer)
			}
			if operShouldBeUp(e, i) && si.State != "UP" {
				t.Errorf("%s: state %q, want UP", where, si.State)
			}
			if !i.Up && si.State != "DOWN" {
				t.Errorf("%s: state %q, want DOWN", where, si.State)
			}
			for _, a := range i.Addrs {
				if !slices.Contains(si.Addresses, a.String()) {
					t.Errorf("%s: addresses %v lack %s", where, si.Addresses, a)
				}
			}
		}
	}
	// The listing names the lab too.
	var ls listJSON
	decodeJSON(t, "netlab status -o json", mustNetlab(t, "status", "-o", "json").stdout, &ls)
	found := false
	for _, l := range ls.Labs {
		if l.Name == e.Name {
			found = true
			if l.Phase != "up" || l.Nodes != len(e.Nodes) || l.RunID != st.RunID {
				t.Errorf("status list: %+v; want phase up, %d nodes, run %s", l, len(e.Nodes), st.RunID)
			}
		}
	}
	if !found {
		t.Errorf("status list does not name lab %s: %+v", e.Name, ls.Labs)
	}
}
