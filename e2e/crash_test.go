package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netlabdev/netlab/internal/labgen"
)

// chainLab is a chain of n nodes (n-1 veths, a /30 on every link) holding
// one host knob.
func chainLab(name string, n int, knob string) string {
	return labgen.Chain(name, n, map[string]string{"net.ipv4.neigh.default.gc_interval": knob})
}

// TestSIGKILLDuringUp kills `netlab up` of a 200-node lab with SIGKILL at
// 20 moments spread over its whole run (from before the first namespace to
// after the host knob), and checks each time that `netlab down` recovers
// everything: no namespace, no state, no root-namespace link, the host knob
// restored, and the lab can come up again. A kill frees the lab's flock, so
// down never waits for a dead holder.
func TestSIGKILLDuringUp(t *testing.T) {
	requireRoot(t)
	const nodes, kills = 200, 20
	name := labName(t, "crash")
	file := filepath.Join(t.TempDir(), name+".yaml")
	knobBefore := readHostSysctl(t, gcInterval)
	knob := "37"
	if knobBefore == knob {
		knob = "38"
	}
	if err := os.WriteFile(file, []byte(chainLab(name, nodes, knob)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupDown(t, name) })
	rootBefore := rootLinks(t)

	// One full run measures how long up takes here.
	start := time.Now()
	mustNetlab(t, "up", "--wait", "0", file)
	full := time.Since(start)
	if got := readHostSysctl(t, gcInterval); got != knob {
		t.Fatalf("host knob %s while up, want %s", got, knob)
	}
	mustNetlab(t, "down", name)
	checkNothingOf(t, name)
	t.Logf("a full up of %d nodes takes %s", nodes, full)

	killedAfter := map[string]int{}
	for i := range kills {
		// Spread the kill points over [0, 1.1 x full]: the last ones land
		// after up finished (a kill of a finished process is a no-op; down
		// must still work).
		at := time.Duration(float64(full) * 1.1 * float64(i) / float64(kills-1))
		cmd := exec.Command(netlabBin, "up", "--wait", "0", file)
		cmd.Env = cleanEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		_ = cmd.Process.Signal(syscall.SIGKILL) // our own child, by PID
		err := cmd.Wait()
		outcome := "finished"
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			outcome = "killed"
		} else if err != nil {
			t.Fatalf("kill point %d (%s): up failed on its own: %v", i, at, err)
		}
		killedAfter[outcome]++
		nsBefore := countNetns(name)
		r := netlab(t, "down", name)
		if r.code != 0 {
			t.Fatalf("kill point %d (%s, %s, %d namespaces): down failed:\n%s", i, at, outcome, nsBefore, r)
		}
		checkNothingOf(t, name)
		if got := readHostSysctl(t, gcInterval); got != knobBefore {
			t.Fatalf("kill point %d (%s, %s): host knob %s after down, want %s restored", i, at, outcome, got, knobBefore)
		}
		if t.Failed() {
			t.Fatalf("kill point %d (%s, %s, %d namespaces before down) left something behind", i, at, outcome, nsBefore)
		}
		t.Logf("kill point %2d at %6s: %s with %3d namespaces; down recovered", i, at.Round(time.Millisecond), outcome, nsBefore)
	}
	if killedAfter["killed"] < kills/2 {
		t.Errorf("only %d of %d kill points hit a running up (%v)", killedAfter["killed"], kills, killedAfter)
	}
	checkRootUntouched(t, rootBefore)
	// And the lab still comes up cleanly.
	mustNetlab(t, "up", "--wait", "0", file)
	mustNetlab(t, "down", name)
	checkNothingOf(t, name)
}

// countNetns counts the lab's named namespaces.
func countNetns(lab string) int {
	ents, _ := os.ReadDir(netnsDir)
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), lab+"-") {
			n++
		}
	}
	return n
}

// TestSignalDuringUpRollsBack: SIGINT or SIGTERM during `up` rolls back
// everything created so far and exits non-zero; no `down` is needed.
func TestSignalDuringUpRollsBack(t *testing.T) {
	requireRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			name := labName(t, "sig"+strings.ToLower(strings.TrimPrefix(sig.String(), "SIG"))[:3])
			file := filepath.Join(t.TempDir(), name+".yaml")
			knobBefore := readHostSysctl(t, gcInterval)
			if err := os.WriteFile(file, []byte(chainLab(name, 200, "39")), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cleanupDown(t, name) })
			cmd := exec.Command(netlabBin, "up", file)
			cmd.Env = cleanEnv()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Signal once the first namespaces exist (mid-build).
			deadline := time.Now().Add(10 * time.Second)
			for countNetns(name) < 20 {
				if time.Now().After(deadline) {
					t.Fatal("up created no namespaces within 10 s")
				}
				time.Sleep(2 * time.Millisecond)
			}
			_ = cmd.Process.Signal(sig)
			err := cmd.Wait()
			if err == nil {
				t.Fatalf("up exited 0 after %s:\n%s", sig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("up's message does not say it was interrupted:\n%s", stderr.String())
			}
			checkNothingOf(t, name)
			if got := readHostSysctl(t, gcInterval); got != knobBefore {
				t.Errorf("host knob %s after the rollback, want %s", got, knobBefore)
			}
		})
	}
}
