package lab

import (
	"errors"
	"fmt"
)

// OpError is netlab's one operational error: what failed, on which node and
// object, and the kernel's reason.
type OpError struct {
	Node   string // "" for host-level operations
	Object string // e.g. "interface eth0", "sysctl net.ipv4.conf.all.rp_filter"
	Op     string // e.g. "create veth", "write"
	Err    error
}

func (e *OpError) Error() string {
	s := ""
	if e.Node != "" {
		s = "node " + e.Node + ": "
	}
	if e.Object != "" {
		s += e.Object + ": "
	}
	return s + e.Op + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// EnvError means the environment cannot run the request (privileges, a
// missing kernel feature, a lab already up, a conflicting host knob). It is
// always found before anything is created. The CLI exits 3.
type EnvError struct{ Err error }

func (e *EnvError) Error() string { return e.Err.Error() }
func (e *EnvError) Unwrap() error { return e.Err }

func envErrorf(format string, args ...any) error {
	return &EnvError{Err: fmt.Errorf(format, args...)}
}

// IsEnv reports whether err is an environment error.
func IsEnv(err error) bool {
	var e *EnvError
	return errors.As(err, &e)
}
