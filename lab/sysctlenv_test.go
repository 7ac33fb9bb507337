package lab

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// TestSysctlsUnwritable: keys preflight cannot open for writing become one
// environment error (exit 3) naming every key and the cause's way out; none
// is no error.
func TestSysctlsUnwritable(t *testing.T) {
	if err := sysctlsUnwritable("in a node's namespace", nil); err != nil {
		t.Fatalf("no refused keys: %v", err)
	}
	open := func(e error) error { return fmt.Errorf("open /proc/sys/net/x: %w", e) }
	for _, c := range []struct {
		name string
		errs []error
		want []string
	}{
		{"read-only /proc/sys", []error{open(unix.EROFS), open(unix.EROFS)}, []string{"read-only", "systempaths=unconfined", "--privileged"}},
		{"refused by an LSM", []error{open(unix.EACCES)}, []string{"cannot be written", "permission denied"}},
		{"not permitted", []error{open(unix.EPERM)}, []string{"cannot be written", "not permitted"}},
		{"read-only keys", []error{fmt.Errorf("%w: %w", nsutil.ErrReadOnlySysctl, open(unix.EACCES))}, []string{"read-only", "initial network namespace"}},
	} {
		var refused []sysctlRefusal
		for i, e := range c.errs {
			refused = append(refused, sysctlRefusal{fmt.Sprintf("net.ipv4.conf.eth%d.rp_filter", i), e})
		}
		err := sysctlsUnwritable("in a node's namespace", refused)
		if !IsEnv(err) {
			t.Errorf("%s: %v is not an environment error", c.name, err)
			continue
		}
		for _, w := range append(c.want, "in a node's namespace") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
		for _, r := range refused {
			if !strings.Contains(err.Error(), r.key) {
				t.Errorf("%s: %q does not name %s", c.name, err, r.key)
			}
		}
	}
}

// TestNotInitialNetnsKeys: only the neighbour tables' default.* keys are
// explained by the network namespace; others get the kernel's word.
func TestNotInitialNetnsKeys(t *testing.T) {
	for _, p := range []string{"net/ipv4/conf/all/forwarding", "net/core/somaxconn", "net/ipv4/neigh/eth0/gc_stale_time"} {
		if err := notInitialNetns(p, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
