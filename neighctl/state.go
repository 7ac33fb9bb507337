package neighctl

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// State is a neighbour entry's NUD state (the kernel's NUD_* bits).
type State uint16

// The kernel's NUD states.
const (
	None       State = unix.NUD_NONE
	Incomplete State = unix.NUD_INCOMPLETE
	Reachable  State = unix.NUD_REACHABLE
	Stale      State = unix.NUD_STALE
	Delay      State = unix.NUD_DELAY
	Probe      State = unix.NUD_PROBE
	Failed     State = unix.NUD_FAILED
	NoARP      State = unix.NUD_NOARP
	Permanent  State = unix.NUD_PERMANENT
)

var stateNames = []struct {
	s    State
	name string
}{
	{Incomplete, "INCOMPLETE"}, {Reachable, "REACHABLE"}, {Stale, "STALE"}, {Delay, "DELAY"},
	{Probe, "PROBE"}, {Failed, "FAILED"}, {NoARP, "NOARP"}, {Permanent, "PERMANENT"},
}

// Absent is the pseudo-state of an entry that does not exist (before it is
// created, after it is deleted) in a timeline.
const Absent State = 0xffff

// String returns the kernel's word for the state (upper case), joining
// combined bits with '|'; None is "NONE", Absent is "ABSENT".
func (s State) String() string {
	switch s {
	case None:
		return "NONE"
	case Absent:
		return "ABSENT"
	}
	var parts []string
	rest := s
	for _, n := range stateNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
			rest &^= n.s
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint16(rest)))
	}
	return strings.Join(parts, "|")
}

// MarshalText prints the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a state name in any case, or anything String
// prints: combined bits ("INCOMPLETE|0x100") included.
func (s *State) UnmarshalText(b []byte) error {
	var v State
	for part := range strings.SplitSeq(string(b), "|") {
		if x, err := strconv.ParseUint(part, 0, 16); err == nil && strings.HasPrefix(part, "0x") && x != 0 {
			v |= State(x)
			continue
		}
		x, err := ParseState(part)
		if err != nil {
			return err
		}
		v |= x
	}
	*s = v
	return nil
}

// ParseState parses a state name in any case ("stale", "REACHABLE", "none",
// "absent").
func ParseState(name string) (State, error) {
	u := strings.ToUpper(strings.TrimSpace(name))
	switch u {
	case "NONE":
		return None, nil
	case "ABSENT":
		return Absent, nil
	}
	for _, n := range stateNames {
		if n.name == u {
			return n.s, nil
		}
	}
	return 0, fmt.Errorf("unknown neighbour state %q (want one of %s)", name, strings.Join(StateNames(), ", "))
}

// StateNames lists the kernel's state names.
func StateNames() []string {
	out := []string{"NONE"}
	for _, n := range stateNames {
		out = append(out, n.name)
	}
	return out
}

// Timer reports whether the kernel runs a timer for an entry in this state
// (it will change without any traffic): INCOMPLETE, REACHABLE, DELAY, PROBE.
func (s State) Timer() bool {
	return s != Absent && s&(Incomplete|Reachable|Delay|Probe) != 0
}

// Flags are an entry's NTF_* flags plus the extended managed flag.
type Flags struct {
	Router      bool `json:"router,omitempty"`
	Proxy       bool `json:"proxy,omitempty"`
	ExternLearn bool `json:"extern_learn,omitempty"`
	Managed     bool `json:"managed,omitempty"`
}

// Names lists the set flags as ip(8) prints them.
func (f Flags) Names() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.Router, "router"}, {f.Proxy, "proxy"}, {f.ExternLearn, "extern_learn"}, {f.Managed, "managed"}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	sort.Strings(out)
	return out
}
