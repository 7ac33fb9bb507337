package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// captureLab: two hosts on one veth pair, IPv4 only. IPv6 is off in both
// nodes before the link exists, so no router solicitation or MLD report
// crosses the wire: only what a test sends does.
const captureLab = `name: capture
nodes:
  h1:
    sysctls: {net.ipv6.conf.all.disable_ipv6: 1, net.ipv6.conf.default.disable_ipv6: 1}
    interfaces:
      eth0: {addresses: [10.79.0.1/24], mac: "02:00:00:79:00:01"}
  h2:
    sysctls: {net.ipv6.conf.all.disable_ipv6: 1, net.ipv6.conf.default.disable_ipv6: 1}
    interfaces:
      eth0: {addresses: [10.79.0.2/24], mac: "02:00:00:79:00:02"}
links:
  - endpoints: [h1:eth0, h2:eth0]
`

// captureProc is a running `netlab capture`.
type captureProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{}
	err    error
}

func (c *captureProc) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// startCapture runs `netlab capture <args>` and returns once it reports
// ready on stderr.
func startCapture(t *testing.T, args ...string) *captureProc {
	t.Helper()
	cmd := exec.Command(netlabBin, append([]string{"capture"}, args...)...)
	cmd.Env = cleanEnv()
	errp, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &captureProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errp)
		once := sync.Once{}
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if strings.Contains(sc.Text(), ": ready") {
				once.Do(func() { close(ready) })
			}
		}
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGINT) // the process we started, by PID
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Errorf("capture did not stop within 5 s of SIGINT")
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	select {
	case <-ready:
	case <-c.done:
		t.Fatalf("capture exited before it was ready: %v\n%s", c.err, c.output())
	case <-time.After(10 * time.Second):
		t.Fatalf("capture not ready after 10 s:\n%s", c.output())
	}
	return c
}

// wait waits for the capture to end by itself, and fails unless it exits 0.
func (c *captureProc) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		t.Fatalf("capture still running after %s:\n%s", within, c.output())
	}
	if c.err != nil {
		t.Fatalf("capture: %v\n%s", c.err, c.output())
	}
}

// frame is what the test reads out of one captured Ethernet frame,
// decoded by hand from the bytes pcapgo hands back.
type frame struct {
	src, dst string // MAC addresses
	kind     string // "arp request", "arp reply", "icmp echo request", "icmp echo reply", or "other"
	sip, dip string // ARP sender/target or IPv4 source/destination
}

func (f frame) String() string {
	return fmt.Sprintf("%s > %s %s %s > %s", f.src, f.dst, f.kind, f.sip, f.dip)
}

func decodeFrame(b []byte) frame {
	f := frame{kind: "other"}
	if len(b) < 14 {
		return f
	}
	f.dst, f.src = net.HardwareAddr(b[0:6]).String(), net.HardwareAddr(b[6:12]).String()
	p := b[14:]
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0806: // ARP for IPv4 over Ethernet: 28 bytes
		if len(p) >= 28 {
			f.kind = map[uint16]string{1: "arp request", 2: "arp reply"}[binary.BigEndian.Uint16(p[6:8])]
			f.sip, f.dip = net.IP(p[14:18]).String(), net.IP(p[24:28]).String()
		}
	case 0x0800:
		if len(p) >= 20 && p[9] == 1 && len(p) >= int(p[0]&0x0f)*4+8 {
			f.kind = map[byte]string{8: "icmp echo request", 0: "icmp echo reply"}[p[int(p[0]&0x0f)*4]]
			f.sip, f.dip = net.IP(p[12:16]).String(), net.IP(p[16:20]).String()
		}
	}
	if f.kind == "" {
		f.kind = "other"
	}
	return f
}

// readCapture reads a pcap file with pcapgo (a reader apart from the
// writer's code path) and decodes every frame.
func readCapture(t *testing.T, file string) ([]frame, []int) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("%s: link type %v, want Ethernet", file, r.LinkType())
	}
	var frames []frame
	var lens []int
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, lens
		}
		if err != nil {
			t.Fatalf("%s: record %d: %v", file, len(frames), err)
		}
		if ci.CaptureLength != ci.Length {
			t.Errorf("%s: record %d cut: %d of %d bytes", file, len(frames), ci.CaptureLength, ci.Length)
		}
		frames = append(frames, decodeFrame(data))
		lens = append(lens, ci.Length)
	}
}

// TestCapture: `netlab capture -c 4` on h2 while h1 pings h2 once holds the
// ARP exchange and the echo request and reply, in both directions, ends by
// itself after the fourth packet, and tcpdump reads the file; --duration
// ends an idle capture on time; `netlab down` ends an unbounded one.
func TestCapture(t *testing.T) {
	requireRoot(t)
	l := newLabText(t, captureLab, "capture")
	l.up(t)
	dir := t.TempDir()
	const (
		mac1, mac2 = "02:00:00:79:00:01", "02:00:00:79:00:02"
		ip1, ip2   = "10.79.0.1", "10.79.0.2"
	)

	file := filepath.Join(dir, "ping.pcap")
	c := startCapture(t, l.Name, "h2", "eth0", "-w", file, "-c", "4")
	if r := netlab(t, "exec", l.Name, "h1", "--", "ping", "-c1", "-W2", ip2); r.code != 0 {
		t.Fatalf("ping: %s\ncapture:\n%s", r, c.output())
	}
	c.wait(t, 5*time.Second)
	// 42-byte ARP frames, 98-byte echo frames (56 bytes of ping data).
	if out := c.output(); !strings.Contains(out, "capturing on h2 eth0: ready") || !strings.Contains(out, "4 packets, 280 bytes captured, 0 dropped by the kernel") {
		t.Errorf("stderr:\n%s", out)
	}
	frames, lens := readCapture(t, file)
	want := []frame{
		{mac1, "ff:ff:ff:ff:ff:ff", "arp request", ip1, ip2}, // received (broadcast)
		{mac2, mac1, "arp reply", ip2, ip1},                  // sent
		{mac1, mac2, "icmp echo request", ip1, ip2},          // received
		{mac2, mac1, "icmp echo reply", ip2, ip1},            // sent
	}
	if len(frames) != len(want) {
		t.Fatalf("%d frames, want %d: %v", len(frames), len(want), frames)
	}
	for i := range want {
		if frames[i] != want[i] {
			t.Errorf("frame %d: %s, want %s", i, frames[i], want[i])
		}
	}
	if fmt.Sprint(lens) != "[42 42 98 98]" {
		t.Errorf("frame lengths %v, want [42 42 98 98]", lens)
	}

	// tcpdump, the reference reader, reads the same file.
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("NETLAB_E2E_REQUIRED") == "1" {
			t.Fatal("tcpdump is not installed (scripts/setup installs it)")
		}
		t.Log("tcpdump is not installed (scripts/setup installs it): not checked with tcpdump")
	} else {
		td := exec.Command("tcpdump", "-nn", "-r", file)
		var so, se bytes.Buffer
		td.Stdout, td.Stderr = &so, &se
		if err := td.Run(); err != nil {
			t.Fatalf("tcpdump -r: %v\n%s%s", err, so.String(), se.String())
		}
		for _, w := range []string{
			"ARP, Request who-has " + ip2 + " tell " + ip1,
			"ARP, Reply " + ip2 + " is-at " + mac2,
			"IP " + ip1 + " > " + ip2 + ": ICMP echo request",
			"IP " + ip2 + " > " + ip1 + ": ICMP echo reply",
		} {
			if !strings.Contains(so.String(), w) {
				t.Errorf("tcpdump output lacks %q:\n%s", w, so.String())
			}
		}
		if n := strings.Count(strings.TrimSpace(so.String()), "\n") + 1; n != 4 {
			t.Errorf("tcpdump printed %d lines, want 4:\n%s", n, so.String())
		}
		if !strings.Contains(se.String(), "link-type EN10MB") {
			t.Errorf("tcpdump stderr: %s", se.String())
		}
	}

	// --duration: an idle capture ends on time with a valid, empty file.
	idle := filepath.Join(dir, "idle.pcap")
	t0 := time.Now()
	r := mustNetlab(t, "capture", l.Name, "h1", "eth0", "-w", idle, "--duration", "500ms")
	if el := time.Since(t0); el < 500*time.Millisecond || el > 3*time.Second {
		t.Errorf("a 500ms capture took %s", el)
	}
	if !strings.Contains(r.stderr, "0 packets, 0 bytes captured, 0 dropped by the kernel") {
		t.Errorf("idle capture:\n%s", r)
	}
	if frames, _ := readCapture(t, idle); len(frames) != 0 {
		t.Errorf("idle capture holds %v", frames)
	}

	// An unbounded capture (asked for) ends, exit 0, when the lab goes
	// down: its socket would otherwise keep the node's namespace alive.
	c = startCapture(t, l.Name, "h1", "eth0", "-w", filepath.Join(dir, "down.pcap"), "--until-interrupted")
	mustNetlab(t, "down", l.Name)
	c.wait(t, 5*time.Second)
	if !strings.Contains(c.output(), "lab "+l.Name+" went down: capture stopped") {
		t.Errorf("capture at down:\n%s", c.output())
	}
}
