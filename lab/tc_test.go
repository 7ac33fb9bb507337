package lab

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

const tcLab = `name: tc
nodes:
  h1:
    interfaces:
      eth2: {mtu: 9000}
  h2: {}
  h3: {}
links:
  - endpoints: [h1:eth0, h2:eth0]
    shape: {rate: 20Mbit, burst: 32kb, latency: 50ms}
  - endpoints: [h1:eth1, h3:eth0]
    impair: {delay: 10ms, jitter: 1500us, loss: 0.5%}
  - endpoints: [h1:eth2, h3:eth1]
    shape: {rate: 1gbit}
  - endpoints: [h2:eth1, h3:eth2]
    impair: {loss: 2%}
`

// TestPlanQdisc: both ends of a shaped or impaired link get its root qdisc,
// printed as tc commands; netlab's defaults are marked.
func TestPlanQdisc(t *testing.T) {
	p := planOf(t, tcLab)
	var got []string
	for _, o := range opsOf(p, OpQdisc) {
		got = append(got, o.String())
	}
	want := []string{
		"tc -n tc-h1 qdisc add dev eth0 root tbf rate 20mbit burst 32kb latency 50ms",
		"tc -n tc-h2 qdisc add dev eth0 root tbf rate 20mbit burst 32kb latency 50ms",
		"tc -n tc-h1 qdisc add dev eth1 root netem delay 10ms 1500us loss 0.5%",
		"tc -n tc-h3 qdisc add dev eth0 root netem delay 10ms 1500us loss 0.5%",
		// 10 ms at 1 gbit is 1250000 bytes (more than two 9014-byte frames).
		"tc -n tc-h1 qdisc add dev eth2 root tbf rate 1gbit burst 1250000b latency 50ms  # netlab default burst (10 ms at the rate, at least 2 frames), latency",
		"tc -n tc-h3 qdisc add dev eth1 root tbf rate 1gbit burst 1250000b latency 50ms  # netlab default burst (10 ms at the rate, at least 2 frames), latency",
		"tc -n tc-h2 qdisc add dev eth1 root netem loss 2%",
		"tc -n tc-h3 qdisc add dev eth2 root netem loss 2%",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("qdisc ops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestQdiscNetlink checks the netlink values against tc's arithmetic: tc
// tbf rate 20mbit burst 32kb latency 50ms sends rate 2500000 bytes/s,
// limit = rate x latency + burst = 125000 + 32768, and the bucket as the
// time to send burst bytes at the rate in psched ticks.
func TestQdiscNetlink(t *testing.T) {
	p := planOf(t, tcLab)
	ops := opsOf(p, OpQdisc)
	tbf, ok := ops[0].Qdisc.qdisc(7).(*netlink.Tbf)
	if !ok {
		t.Fatalf("shape: %T", ops[0].Qdisc.qdisc(7))
	}
	if tbf.LinkIndex != 7 || tbf.Parent != netlink.HANDLE_ROOT || tbf.Rate != 2500000 || tbf.Limit != 125000+32768 || tbf.Buffer != netlink.Xmittime(2500000, 32768) {
		t.Errorf("tbf: %+v", tbf)
	}
	nm, ok := ops[2].Qdisc.qdisc(3).(*netlink.Netem)
	if !ok {
		t.Fatalf("impair: %T", ops[2].Qdisc.qdisc(3))
	}
	want := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: 3, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Latency: 10000, Jitter: 1500, Loss: 0.5})
	if !reflect.DeepEqual(nm, want) {
		t.Errorf("netem: %+v, want %+v", nm, want)
	}
}

func TestQdiscNeeds(t *testing.T) {
	needs := qdiscNeeds(planOf(t, tcLab))
	if len(needs) != 2 || needs[0].kind != "tbf" || needs[1].kind != "netem" ||
		!reflect.DeepEqual(needs[1].links, []string{"links[1].impair (h1:eth1-h3:eth0)", "links[3].impair (h2:eth1-h3:eth2)"}) {
		t.Fatalf("needs: %+v %+v", needs[0], needs[1])
	}
	err := needs[1].missing("no such file or directory")
	if !IsEnv(err) || err.Error() != "links[1].impair (h1:eth1-h3:eth0), links[3].impair (h2:eth1-h3:eth2): impair needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM, module sch_netem), which this kernel does not have (no such file or directory); nothing was created" {
		t.Errorf("message: %v", err)
	}
}

// TestConfigFeatures: without privileges, up --dry-run judges from the
// kernel's configuration.
func TestConfigFeatures(t *testing.T) {
	this := map[string]string{ // this project's kernel, as /proc/config.gz has it
		"CONFIG_NET_SCH_TBF": "y", "CONFIG_NET_SCH_NETEM": "n", "CONFIG_NF_TABLES_INET": "y",
		"CONFIG_NF_TABLES_BRIDGE": "y", "CONFIG_NFT_BRIDGE_REJECT": "n",
	}
	fw := func(rules string) *Plan {
		return planOf(t, `name: fw
nodes:
  sw:
    kind: bridge
    firewall:
`+rules+`
  h1: {}
links:
  - endpoints: [h1:eth0, sw:p1]
    shape: {rate: 1mbit}
`)
	}
	for _, tt := range []struct {
		name string
		p    *Plan
		cfg  map[string]string
		want string
	}{
		{"netem missing", planOf(t, tcLab), this, "links[1].impair (h1:eth1-h3:eth0), links[3].impair (h2:eth1-h3:eth2): impair needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM, module sch_netem), which this kernel does not have (CONFIG_NET_SCH_NETEM is not set in /proc/config.gz)"},
		{"netem as a module", planOf(t, tcLab), map[string]string{"CONFIG_NET_SCH_TBF": "y", "CONFIG_NET_SCH_NETEM": "m"}, ""},
		{"tbf missing", planOf(t, tcLab), map[string]string{}, "links[0].shape (h1:eth0-h2:eth0), links[2].shape (h1:eth2-h3:eth1): shape needs the kernel's tbf qdisc"},
		{"a switch drops", fw("      - {chain: forward, action: drop, proto: udp}"), this, ""},
		{"a switch rejects", fw("      - {chain: forward, action: reject, proto: udp}"), this, "node sw: its firewall rules need nft_reject_bridge, to reject bridged frames (drop works without it), which this kernel does not have (CONFIG_NFT_BRIDGE_REJECT is not set in /proc/config.gz)"},
		{"a switch rejects locally", fw("      - {chain: input, action: reject, proto: udp}"), this, ""},
		{"no nftables", fw("      - {chain: input, action: drop}"), map[string]string{"CONFIG_NET_SCH_TBF": "y"}, "node sw: its firewall rules need nftables' inet family"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := configFeatures(tt.p, tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !IsEnv(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant an EnvError containing %q", err, tt.want)
			}
		})
	}
}

func TestReadKernelConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	_, _ = zw.Write([]byte("#\n# Automatically generated file\nCONFIG_NET_SCH_TBF=y\n# CONFIG_NET_SCH_NETEM is not set\nCONFIG_X=m\nCONFIG_S=\"a=b\"\n"))
	zw.Close()
	f.Close()
	got, err := readKernelConfig(path)
	want := map[string]string{"CONFIG_NET_SCH_TBF": "y", "CONFIG_NET_SCH_NETEM": "n", "CONFIG_X": "m", "CONFIG_S": `"a=b"`}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := readKernelConfig(filepath.Join(t.TempDir(), "none.gz")); err == nil {
		t.Error("a missing config reads")
	}
}

func TestTopoLinkMTU(t *testing.T) {
	p := planOf(t, tcLab)
	var got []int
	for _, l := range p.Topo.Links {
		got = append(got, p.Topo.LinkMTU(l))
	}
	if !reflect.DeepEqual(got, []int{0, 0, 9000, 0}) {
		t.Errorf("link mtus %v", got)
	}
}
