package lab

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capabilities netlab needs.
const (
	CapNetAdmin = 12
	CapNetRaw   = 13
	CapSysAdmin = 21
)

var capNames = map[int]string{CapNetAdmin: "CAP_NET_ADMIN", CapNetRaw: "CAP_NET_RAW", CapSysAdmin: "CAP_SYS_ADMIN"}

var capWhy = map[int]string{
	CapNetAdmin: "to create links, addresses and sysctls",
	CapNetRaw:   "to send probe packets",
	CapSysAdmin: "to create and mount named namespaces",
}

// CheckPrivileges fails with an EnvError naming every missing capability.
func CheckPrivileges(caps ...int) error {
	eff, err := effectiveCaps()
	if err != nil {
		return &EnvError{Err: fmt.Errorf("read capabilities: %w", err)}
	}
	var missing []string
	for _, c := range caps {
		if eff&(1<<uint(c)) == 0 {
			missing = append(missing, capNames[c]+" ("+capWhy[c]+")")
		}
	}
	if len(missing) > 0 {
		return envErrorf("missing privileges: %s; run as root (sudo netlab ...) or grant the capabilities", strings.Join(missing, ", "))
	}
	return nil
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapEff in /proc/self/status")
}
