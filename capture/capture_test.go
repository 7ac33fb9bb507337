package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pcapFile is a pcap file as read by readPcap, this package's independent
// witness for what the writer produced: it follows the file format
// (https://www.ietf.org/archive/id/draft-gharris-opsawg-pcap-01.html), not
// the library that wrote it.
type pcapFile struct {
	nanos        bool
	major, minor uint16
	snaplen      uint32
	linktype     uint32
	recs         []pcapRec
}

type pcapRec struct {
	ts      time.Time
	caplen  int
	origlen int
	data    []byte
}

func readPcap(b []byte) (pcapFile, error) {
	var f pcapFile
	if len(b) < 24 {
		return f, fmt.Errorf("%d bytes: no global header", len(b))
	}
	var bo binary.ByteOrder
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch o.Uint32(b[0:4]) {
		case 0xa1b2c3d4:
			bo = o
		case 0xa1b23c4d:
			bo, f.nanos = o, true
		}
		if bo != nil {
			break
		}
	}
	if bo == nil {
		return f, fmt.Errorf("bad magic % x", b[0:4])
	}
	f.major, f.minor = bo.Uint16(b[4:6]), bo.Uint16(b[6:8])
	f.snaplen, f.linktype = bo.Uint32(b[16:20]), bo.Uint32(b[20:24])
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			return f, fmt.Errorf("offset %d: truncated record header", off)
		}
		h := b[off : off+16]
		sec, frac := int64(bo.Uint32(h[0:4])), int64(bo.Uint32(h[4:8]))
		if !f.nanos {
			frac *= 1000
		}
		r := pcapRec{ts: time.Unix(sec, frac), caplen: int(bo.Uint32(h[8:12])), origlen: int(bo.Uint32(h[12:16]))}
		off += 16
		if r.caplen > len(b)-off {
			return f, fmt.Errorf("offset %d: caplen %d beyond the end", off, r.caplen)
		}
		if r.caplen > int(f.snaplen) || r.caplen > r.origlen {
			return f, fmt.Errorf("offset %d: caplen %d (snaplen %d, length %d)", off, r.caplen, f.snaplen, r.origlen)
		}
		r.data = b[off : off+r.caplen]
		off += r.caplen
		f.recs = append(f.recs, r)
	}
	return f, nil
}

func TestOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{Count: 1, Duration: time.Second, Bytes: 1, Snaplen: DefaultSnaplen}, ""},
		{Options{Count: -1}, "count -1"},
		{Options{Duration: -time.Second}, "duration -1s"},
		{Options{Bytes: -5}, "bytes -5"},
		{Options{Snaplen: -1}, "snaplen -1"},
		{Options{Snaplen: DefaultSnaplen + 1}, "snaplen 262145"},
	} {
		err := tc.o.Check()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Check() = %v, want %q", tc.o, err, tc.want)
		}
	}
}

// TestRecorder checks the written file byte for byte through readPcap, and
// the Count and Bytes bounds.
func TestRecorder(t *testing.T) {
	ts0 := time.Unix(1700000000, 123456789)
	pkt := func(n int) []byte { return bytes.Repeat([]byte{byte(n)}, n) }
	for _, tc := range []struct {
		name    string
		o       Options
		sizes   []int // captured lengths fed in
		written int   // records written
		done    int   // 1-based packet whose write reports done; 0: never
	}{
		{"unbounded", Options{Snaplen: 100}, []int{60, 70, 80}, 3, 0},
		{"count", Options{Snaplen: 100, Count: 2}, []int{60, 70, 80}, 2, 2},
		{"bytes exact", Options{Snaplen: 100, Bytes: 130}, []int{60, 70, 80}, 2, 2},
		{"bytes next does not fit", Options{Snaplen: 100, Bytes: 150}, []int{60, 70, 80}, 2, 3},
		{"bytes first does not fit", Options{Snaplen: 100, Bytes: 10}, []int{60}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			r, err := newRecorder(&out, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if out.Len() != 24 {
				t.Fatalf("after newRecorder: %d bytes written, want the 24-byte header flushed", out.Len())
			}
			done := 0
			for i, n := range tc.sizes {
				d, err := r.packet(ts0.Add(time.Duration(i)*time.Millisecond), pkt(n), n+1000)
				if err != nil {
					t.Fatal(err)
				}
				if d {
					done = i + 1
					break
				}
			}
			if err := r.flush(); err != nil {
				t.Fatal(err)
			}
			if done != tc.done {
				t.Errorf("done after packet %d, want %d", done, tc.done)
			}
			f, err := readPcap(out.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !f.nanos || f.major != 2 || f.minor != 4 || f.snaplen != 100 || f.linktype != 1 {
				t.Errorf("header: nanos %v version %d.%d snaplen %d linktype %d; want nanos 2.4 100 1 (Ethernet)", f.nanos, f.major, f.minor, f.snaplen, f.linktype)
			}
			if len(f.recs) != tc.written {
				t.Fatalf("%d records, want %d", len(f.recs), tc.written)
			}
			var total int64
			for i, rec := range f.recs {
				n := tc.sizes[i]
				if want := ts0.Add(time.Duration(i) * time.Millisecond); !rec.ts.Equal(want) {
					t.Errorf("record %d: time %v, want %v", i, rec.ts, want)
				}
				if rec.caplen != n || rec.origlen != n+1000 || !bytes.Equal(rec.data, pkt(n)) {
					t.Errorf("record %d: caplen %d length %d, want %d %d and the packet's bytes", i, rec.caplen, rec.origlen, n, n+1000)
				}
				total += int64(n)
			}
			if r.st.Packets != tc.written || r.st.Bytes != total {
				t.Errorf("stats %+v, want %d packets, %d bytes", r.st, tc.written, total)
			}
		})
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after < len(p) {
		return 0, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestRecorderWriteError(t *testing.T) {
	if _, err := newRecorder(&failWriter{}, Options{Snaplen: 100}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("header to a failing writer: err = %v", err)
	}
	r, err := newRecorder(&failWriter{after: 24}, Options{Snaplen: 100})
	if err != nil {
		t.Fatal(err)
	}
	if done, err := r.packet(time.Now(), make([]byte, 60), 60); err != nil || done {
		t.Fatalf("buffered packet: done %v, err %v", done, err)
	}
	if err := r.flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("flush: err = %v", err)
	}
	if done, err := r.packet(time.Now(), make([]byte, 60), 60); err == nil || !done {
		t.Fatalf("packet after a failed flush: done %v, err %v; want done with the error", done, err)
	}
}

func TestInsertVLAN(t *testing.T) {
	frame := []byte{
		0x02, 0, 0, 0, 0, 0x02, // dst
		0x02, 0, 0, 0, 0, 0x01, // src
		0x08, 0x00, // IPv4
		0x45, 0x00,
	}
	buf := make([]byte, vlanLen+len(frame))
	copy(buf[vlanLen:], frame)
	got := insertVLAN(buf, len(frame), unix.ETH_P_8021Q, 0x2064) // PCP 1, VID 100
	want := []byte{
		0x02, 0, 0, 0, 0, 0x02,
		0x02, 0, 0, 0, 0, 0x01,
		0x81, 0x00, 0x20, 0x64,
		0x08, 0x00,
		0x45, 0x00,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("insertVLAN:\n got % x\nwant % x", got, want)
	}
	for _, tc := range []struct {
		a     unix.TpacketAuxdata
		valid bool
		tpid  uint16
	}{
		{unix.TpacketAuxdata{}, false, unix.ETH_P_8021Q},
		{unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID}, true, unix.ETH_P_8021Q}, // VID 0 (priority tag)
		{unix.TpacketAuxdata{Vlan_tci: 5}, true, unix.ETH_P_8021Q},                       // old kernels: no status bits
		{unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID, Vlan_tci: 5, Vlan_tpid: unix.ETH_P_8021AD}, true, unix.ETH_P_8021AD},
	} {
		if v, p := vlanValid(&tc.a), vlanTPID(&tc.a); v != tc.valid || p != tc.tpid {
			t.Errorf("%+v: valid %v tpid %#x, want %v %#x", tc.a, v, p, tc.valid, tc.tpid)
		}
	}
}

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestParseCmsgs(t *testing.T) {
	ts := binary.NativeEndian.AppendUint64(nil, 1700000000)
	ts = binary.NativeEndian.AppendUint64(ts, 987654321)
	var aux []byte
	for _, v := range []uint32{unix.TP_STATUS_VLAN_VALID, 1514, 1500} {
		aux = binary.NativeEndian.AppendUint32(aux, v)
	}
	for _, v := range []uint16{14, 14, 100, unix.ETH_P_8021Q} {
		aux = binary.NativeEndian.AppendUint16(aux, v)
	}
	b := append(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts), cmsg(unix.SOL_PACKET, unix.PACKET_AUXDATA, aux)...)
	gotTS, gotAux := parseCmsgs(b)
	if want := time.Unix(1700000000, 987654321); !gotTS.Equal(want) {
		t.Errorf("timestamp %v, want %v", gotTS, want)
	}
	want := unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID, Len: 1514, Snaplen: 1500, Mac: 14, Net: 14, Vlan_tci: 100, Vlan_tpid: unix.ETH_P_8021Q}
	if gotAux == nil || *gotAux != want {
		t.Errorf("auxdata %+v, want %+v", gotAux, want)
	}
	if ts, aux := parseCmsgs(nil); !ts.IsZero() || aux != nil {
		t.Errorf("no control messages: %v %v", ts, aux)
	}
	// A message of another kind, or too short, is ignored.
	if ts, aux := parseCmsgs(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, ts[:8])); !ts.IsZero() || aux != nil {
		t.Errorf("short timestamp: %v %v", ts, aux)
	}
}

func TestHtons(t *testing.T) {
	b := binary.NativeEndian.AppendUint16(nil, htons(0x0003))
	if !bytes.Equal(b, []byte{0x00, 0x03}) {
		t.Fatalf("htons(ETH_P_ALL) in memory: % x, want 00 03", b)
	}
}
