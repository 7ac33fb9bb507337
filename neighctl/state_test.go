package neighctl

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStateString(t *testing.T) {
	for _, tc := range []struct {
		s    State
		want string
	}{
		{None, "NONE"},
		{Incomplete, "INCOMPLETE"},
		{Reachable, "REACHABLE"},
		{Stale, "STALE"},
		{Delay, "DELAY"},
		{Probe, "PROBE"},
		{Failed, "FAILED"},
		{NoARP, "NOARP"},
		{Permanent, "PERMANENT"},
		{Absent, "ABSENT"},
		{Reachable | Stale, "REACHABLE|STALE"},
		{0x100, "0x100"},
		{Stale | 0x300, "STALE|0x300"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("State(%#x).String() = %q, want %q", uint16(tc.s), got, tc.want)
		}
	}
	// The constants are the kernel's NUD_* bits, not a private numbering.
	for s, nud := range map[State]int{Incomplete: unix.NUD_INCOMPLETE, Reachable: unix.NUD_REACHABLE,
		Stale: unix.NUD_STALE, Delay: unix.NUD_DELAY, Probe: unix.NUD_PROBE, Failed: unix.NUD_FAILED,
		NoARP: unix.NUD_NOARP, Permanent: unix.NUD_PERMANENT} {
		if int(s) != nud {
			t.Errorf("%s = %#x, kernel says %#x", s, uint16(s), nud)
		}
	}
}

func TestParseState(t *testing.T) {
	for _, name := range StateNames() {
		mixed := []byte(strings.ToLower(name))
		mixed[0] -= 'a' - 'A'
		for _, in := range []string{name, strings.ToLower(name), " " + string(mixed) + "\t"} {
			s, err := ParseState(in)
			if err != nil {
				t.Errorf("ParseState(%q): %v", in, err)
				continue
			}
			if s.String() != name {
				t.Errorf("ParseState(%q) = %s, want %s", in, s, name)
			}
		}
	}
	if s, err := ParseState("absent"); err != nil || s != Absent {
		t.Errorf("ParseState(absent) = %v, %v", s, err)
	}
	for _, bad := range []string{"", "reach", "REACHABLE|STALE", "0x2", "PERMANENTX", "stale,"} {
		if s, err := ParseState(bad); err == nil {
			t.Errorf("ParseState(%q) = %s, want an error", bad, s)
		} else if !strings.Contains(err.Error(), "REACHABLE") {
			t.Errorf("ParseState(%q) error %q does not list the valid names", bad, err)
		}
	}
	want := []string{"NONE", "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "NOARP", "PERMANENT"}
	if got := StateNames(); !slices.Equal(got, want) {
		t.Errorf("StateNames() = %v, want %v", got, want)
	}
}

// Everything String/MarshalText prints reads back as the same State, single
// states and combinations alike.
func TestStateTextRoundTrip(t *testing.T) {
	states := []State{None, Absent, Reachable | Stale, Incomplete | Failed | Permanent, 0x100, Delay | 0x4000}
	for _, n := range stateNames {
		states = append(states, n.s)
	}
	for _, s := range states {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != s.String() {
			t.Errorf("MarshalText(%s) = %q", s, b)
		}
		var back State
		if err := back.UnmarshalText(b); err != nil {
			t.Errorf("UnmarshalText(%q): %v", b, err)
			continue
		}
		if back != s {
			t.Errorf("UnmarshalText(%q) = %#x, want %#x", b, uint16(back), uint16(s))
		}
		// As a JSON value and as a JSON map key.
		j, err := json.Marshal(map[State]State{s: s})
		if err != nil {
			t.Fatal(err)
		}
		var m map[State]State
		if err := json.Unmarshal(j, &m); err != nil {
			t.Errorf("json %s: %v", j, err)
		} else if m[s] != s || len(m) != 1 {
			t.Errorf("json %s read back as %v", j, m)
		}
	}
	var s State = Stale
	for _, bad := range []string{"", "bogus", "STALE|bogus", "0x", "|"} {
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %s, want an error", bad, s)
		}
	}
	if s != Stale {
		t.Errorf("a failed UnmarshalText changed the value to %s", s)
	}
}

func TestStateTimer(t *testing.T) {
	timer := map[State]bool{
		None: false, Incomplete: true, Reachable: true, Stale: false, Delay: true,
		Probe: true, Failed: false, NoARP: false, Permanent: false, Absent: false,
	}
	for s, want := range timer {
		if got := s.Timer(); got != want {
			t.Errorf("%s.Timer() = %v, want %v", s, got, want)
		}
	}
	// The kernel's NUD_IN_TIMER is exactly this set.
	if in := State(unix.NUD_INCOMPLETE | unix.NUD_REACHABLE | unix.NUD_DELAY | unix.NUD_PROBE); !in.Timer() || (Stale | Failed).Timer() {
		t.Error("Timer() disagrees with NUD_IN_TIMER")
	}
}

func TestFlagsNames(t *testing.T) {
	if got := (Flags{}).Names(); len(got) != 0 {
		t.Errorf("no flags: %v", got)
	}
	got := Flags{Router: true, Proxy: true, ExternLearn: true, Managed: true}.Names()
	if want := []string{"extern_learn", "managed", "proxy", "router"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}
