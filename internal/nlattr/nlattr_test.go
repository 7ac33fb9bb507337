package nlattr

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func attr(typ uint16, v []byte, pad bool) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, v...)
	if pad {
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

func TestParse(t *testing.T) {
	msg := append(attr(1, []byte("abc"), true), attr(2|0x8000, []byte{1, 2, 3, 4}, true)...)
	msg = append(msg, attr(3, []byte{9}, false)...) // unpadded last one
	got, err := Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := []Attr{{1, []byte("abc")}, {2, []byte{1, 2, 3, 4}}, {3, []byte{9}}}
	if len(got) != len(want) {
		t.Fatalf("got %d attributes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Type != want[i].Type || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("attr %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range [][]byte{
		{2, 0, 1, 0},         // length below the header
		{200, 0, 1, 0, 0, 0}, // length past the end
		append(attr(1, []byte("abc"), true), 12, 0, 1, 0, 1, 2, 3, 4), // a truncated last attribute
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%v) accepted a bad length", bad)
		}
	}
	if got, err := Parse([]byte{1, 2}); err != nil || len(got) != 0 {
		t.Errorf("a short fragment: %v, %v", got, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(attr(1, []byte("abc"), false))
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := Parse(b)
		if err != nil {
			return
		}
		for _, a := range as {
			if len(a.Value) > len(b) {
				t.Fatal("value longer than the input")
			}
		}
	})
}
