package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMissingPrivileges runs netlab as root with capabilities removed from
// its bounding set (so the exec'd binary cannot have them): every command
// that needs CAP_NET_ADMIN / CAP_SYS_ADMIN stops at once with exit 3, names
// the missing capability, and creates nothing. validate and up --dry-run
// still work.
func TestMissingPrivileges(t *testing.T) {
	requireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is needed to drop capabilities: %v", err)
	}
	l := newLab(t, "labs/switch.yaml", "nopriv")
	run := func(drop string, args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		argv := append([]string{"--bounding-set", drop, "--inh-caps", "-all", "--", netlabBin}, args...)
		cmd := exec.CommandContext(ctx, setpriv, argv...)
		cmd.Env = cleanEnv()
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		r := result{args: args, stdout: so.String(), stderr: se.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("setpriv %v: %v", argv, err)
		}
		return r
	}
	for _, tc := range []struct {
		drop, want string
		args       []string
	}{
		{"-net_admin", "CAP_NET_ADMIN", []string{"up", l.File}},
		{"-sys_admin", "CAP_SYS_ADMIN", []string{"up", l.File}},
		{"-net_admin,-sys_admin", "CAP_NET_ADMIN", []string{"down", l.Name}},
		{"-sys_admin", "CAP_SYS_ADMIN", []string{"exec", l.Name, "h1", "--", "true"}},
	} {
		r := run(tc.drop, tc.args...)
		if r.code != 3 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "missing privileges") {
			t.Errorf("without %s: want exit 3 naming %s, got:\n%s", tc.drop, tc.want, r)
		}
		if left := leftovers(); len(left) > 0 {
			t.Fatalf("without %s, %s left %v behind", tc.drop, tc.args[0], left)
		}
	}
	// Commands that touch no kernel object need no privileges.
	if r := run("-net_admin,-sys_admin", "validate", l.File); r.code != 0 {
		t.Errorf("validate without privileges: %s", r)
	}
	if r := run("-net_admin,-sys_admin", "up", "--dry-run", l.File); r.code != 0 || !strings.Contains(r.stdout, "ip netns add "+l.Name+"-h1") {
		t.Errorf("up --dry-run without privileges: %s", r)
	}
}
