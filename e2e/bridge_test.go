package e2e

import "testing"

// TestBridgeInterfaceMTU: a bridge interface's declared mtu holds once its
// ports are enslaved. The kernel re-derives a bridge's MTU from its ports
// (br_mtu_auto_adjust) whenever a port joins, unless the MTU was set by a
// change request after creation (BROPT_MTU_SET_BY_USER); an mtu given only
// at RTM_NEWLINK does not count. So a bridge declared with mtu 1400 over
// 1500-byte ports must still be 1400 after up.
func TestBridgeInterfaceMTU(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	l := newLabText(t, `name: brmtu
nodes:
  h1:
    interfaces:
      br0: {kind: bridge, ports: [p1, p2], mtu: 1400, addresses: [10.83.0.1/24]}
  h2:
    interfaces:
      eth0: {addresses: [10.83.0.2/24]}
  h3:
    interfaces:
      eth0: {addresses: [10.83.0.3/24]}
links:
  - endpoints: [h1:p1, h2:eth0]
  - endpoints: [h1:p2, h3:eth0]
`, "brmtu")
	if br := l.Exp.node("h1").iface("br0"); br == nil || br.MTU != 1400 {
		t.Fatalf("model: br0 %+v", br)
	}
	l.up(t)
	hs := openLab(t, l.Exp)
	waitLabOper(t, l.Exp, hs)
	checkNetlink(t, l.Exp, hs)
	checkIP(t, l.Exp)
}
