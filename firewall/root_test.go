package firewall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/internal/nsutil"
	"github.com/netlabdev/netlab/internal/roottest"
)

// newNS is a fresh unnamed namespace, gone when the test ends.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	roottest.Need(t)
	ns, err := nsutil.Unnamed()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func open(t *testing.T, ns netns.NsHandle) *Conn {
	t.Helper()
	c, err := Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// nftIn runs nft inside ns (the independent witness), or skips when the
// nftables package is not installed (scripts/setup installs it).
func nftIn(t *testing.T, ns netns.NsHandle, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (scripts/setup installs the nftables package)")
	}
	cmd := exec.Command(path, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := nsutil.Start(ns, cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func hostRuleset(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return ""
	}
	out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset (host): %v\n%s", err, out)
	}
	return string(out)
}

func TestRootApplyListFlush(t *testing.T) {
	ns := newNS(t)
	host := hostRuleset(t)
	c := open(t, ns)
	ctx := context.Background()
	if got, err := c.List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("fresh namespace: %v, %v; want no rules", got, err)
	}
	rules := []Rule{
		{Chain: Input, Action: Drop, Proto: TCP, Dport: 9, Comment: "nodes.h1.firewall[0]"},
		{Chain: Input, Action: Reject, Proto: UDP, Src: netip.MustParsePrefix("192.0.0.0/20"), Dport: 53},
		{Chain: Input, Action: Accept, Proto: ICMPv6, ICMPType: u8(135), IIF: "eth0"},
		{Chain: Output, Action: Drop, Family: IPv4, OIF: "eth1", Dst: netip.MustParsePrefix("2001:db8::/32").Masked()},
		{Chain: Forward, Action: Reject, Proto: TCP, Sport: 80},
	}
	// The 4th rule is contradictory (ipv4, an IPv6 dst): nothing is added.
	err := c.Apply(ctx, Options{}, rules...)
	if err == nil || !strings.Contains(err.Error(), "rule 3") {
		t.Fatalf("contradictory rule: %v", err)
	}
	if got, _ := c.List(ctx); len(got) != 0 {
		t.Fatalf("a refused Apply added %v", got)
	}
	rules[3].Dst = netip.MustParsePrefix("198.51.100.7/32")
	if err := c.Apply(ctx, Options{}, rules...); err != nil {
		t.Fatal(err)
	}
	// Apply appends; ensuring again changes nothing.
	if err := c.Ensure(ctx, Inet); err != nil {
		t.Fatal(err)
	}
	got, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rules) {
		t.Fatalf("listed %d rules, want %d: %+v", len(got), len(rules), got)
	}
	// List groups by chain in the kernel's chain order (input, output,
	// forward as created); within a chain, the order of Apply.
	for i, want := range rules {
		e := got[i]
		w, _ := want.normalize()
		if e.Rule == nil || !reflect.DeepEqual(*e.Rule, w) || e.Table != "inet netlab" || e.Chain != string(want.Chain) || e.Handle == 0 {
			t.Errorf("entry %d: %+v (rule %+v), want %+v", i, e, e.Rule, w)
		}
		if e.Comment != want.Comment {
			t.Errorf("entry %d: comment %q, want %q", i, e.Comment, want.Comment)
		}
		if e.Text != w.Text(Inet) {
			t.Errorf("entry %d: text %q", i, e.Text)
		}
	}

	// The witness: nft's own listing has netlab's table, chains with
	// hook, priority and policy, and each rule's matches and verdict.
	var rs struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(nftIn(t, ns, "-j", "list", "ruleset")), &rs); err != nil {
		t.Fatal(err)
	}
	var chains []string
	nRules := 0
	for _, o := range rs.Nftables {
		if raw, ok := o["chain"]; ok {
			var ch struct {
				Family, Table, Name, Type, Hook, Policy string
				Prio                                    int
			}
			_ = json.Unmarshal(raw, &ch)
			if ch.Family != "inet" || ch.Table != "netlab" || ch.Type != "filter" || ch.Hook != ch.Name || ch.Prio != 0 || ch.Policy != "accept" {
				t.Errorf("nft: chain %+v", ch)
			}
			chains = append(chains, ch.Name)
		}
		if _, ok := o["rule"]; ok {
			nRules++
		}
	}
	if !reflect.DeepEqual(chains, []string{"input", "output", "forward"}) || nRules != len(rules) {
		t.Errorf("nft -j: chains %v, %d rules; want input, output, forward and %d rules", chains, nRules, len(rules))
	}
	text := nftIn(t, ns, "list", "table", "inet", "netlab")
	for _, want := range []string{
		`tcp dport 9 counter packets 0 bytes 0 drop comment "nodes.h1.firewall[0]"`,
		`ip saddr 192.0.0.0/20 udp dport 53 counter packets 0 bytes 0 reject`,
		`iifname "eth0" icmpv6 type nd-neighbor-solicit counter packets 0 bytes 0 accept`,
		`ip daddr 198.51.100.7 oifname "eth1" counter packets 0 bytes 0 drop`,
		`tcp sport 80 counter packets 0 bytes 0 reject with tcp reset`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("nft list table lacks %q:\n%s", want, text)
		}
	}

	// A rule nft adds by hand is listed, not guessed at.
	nftIn(t, ns, "add", "rule", "inet", "netlab", "input", "tcp", "dport", "{ 1, 2 }", "drop")
	got, err = c.List(ctx)
	if err != nil || len(got) != len(rules)+1 {
		t.Fatalf("after nft add: %d entries, %v", len(got), err)
	}
	var foreign *Entry
	for i := range got {
		if got[i].Rule == nil {
			foreign = &got[i]
		}
	}
	if foreign == nil || !strings.Contains(foreign.Text, "not a rule netlab makes") || foreign.Chain != "input" {
		t.Errorf("foreign rule: %+v", foreign)
	}

	// Flush empties the chains and keeps them.
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c.List(ctx); err != nil || len(got) != 0 {
		t.Errorf("after Flush: %v, %v", got, err)
	}
	if text := nftIn(t, ns, "list", "table", "inet", "netlab"); !strings.Contains(text, "chain forward") || strings.Contains(text, "counter") {
		t.Errorf("after Flush nft lists:\n%s", text)
	}
	// Delete takes the tables away; a second Delete has nothing to do.
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if text := nftIn(t, ns, "list", "tables"); text != "" {
		t.Errorf("after Delete nft lists tables:\n%s", text)
	}
	if after := hostRuleset(t); after != host {
		t.Errorf("the host's ruleset changed:\nbefore:\n%s\nafter:\n%s", host, after)
	}
}

func TestRootBridgeTable(t *testing.T) {
	ns := newNS(t)
	c := open(t, ns)
	ctx := context.Background()
	br := Options{Bridge: true}
	rules := []Rule{
		{Chain: Forward, Action: Drop, Proto: ICMP, ICMPType: u8(8), IIF: "p1"},
		{Chain: Input, Action: Drop, Family: IPv6},
	}
	if err := c.Apply(ctx, br, rules...); err != nil {
		t.Fatal(err)
	}
	got, err := c.List(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v, %v", got, err)
	}
	if got[0].Table != "inet netlab" || got[0].Chain != "input" || got[1].Table != "bridge netlab" || got[1].Chain != "forward" {
		t.Errorf("tables: %+v", got)
	}
	text := nftIn(t, ns, "list", "table", "bridge", "netlab")
	if !strings.Contains(text, "hook forward priority filter; policy accept;") || !strings.Contains(text, `iifname "p1" icmp type echo-request counter packets 0 bytes 0 drop`) {
		t.Errorf("nft list table bridge netlab:\n%s", text)
	}
	// Rejecting bridged frames needs nft_reject_bridge: a kernel without it
	// refuses the transaction, and nothing of it stays.
	err = c.Apply(ctx, br, Rule{Chain: Forward, Action: Drop, Proto: UDP}, Rule{Chain: Forward, Action: Reject, Proto: UDP})
	after, _ := c.List(ctx)
	if err != nil && len(after) != 2 {
		t.Errorf("a refused transaction left %d rules, want 2", len(after))
	}
	if err == nil && len(after) != 4 {
		t.Errorf("an accepted transaction gave %d rules, want 4", len(after))
	}
}

func TestRootCloseAndContext(t *testing.T) {
	ns := newNS(t)
	before := roottest.CountFDs(t)
	for range 5 {
		c, err := Open(ns)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.List(context.Background()); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	if after := roottest.CountFDs(t); after > before {
		t.Errorf("open file descriptors: %d before 5 Open/Close, %d after", before, after)
	}
	c := open(t, ns)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Apply(cancelled, Options{}, Rule{Chain: Input, Action: Drop}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := c.List(expired); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: %v", err)
	}
	// A context with time left works (its deadline is the socket's).
	ok, cancel3 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel3()
	if err := c.Apply(ok, Options{}, Rule{Chain: Input, Action: Accept}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.List(context.Background()); err != nil || len(got) != 1 {
		t.Fatalf("after a deadline: %v, %v", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// After Close nothing reaches any namespace (the host's least of all).
	if _, err := c.List(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close: %v", err)
	}
	if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v", err)
	}
}
