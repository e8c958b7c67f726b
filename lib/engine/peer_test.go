package engine

import (
	"os"
	"strings"
	"testing"
)

// In the initial user namespace every uid maps to itself; under podman
// unshare (the rootless warden tests) the user's uid 0 maps to its own.
func TestHostUID(t *testing.T) {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		t.Skip("no /proc/self/uid_map")
	}
	if strings.Fields(string(b))[0] != "0" || strings.Fields(string(b))[1] != "0" {
		t.Skip("not in the initial user namespace")
	}
	for _, u := range []uint32{0, 1000, 65534} {
		if h, ok := hostUID(u); !ok || h != u {
			t.Errorf("hostUID(%d) = %d %v", u, h, ok)
		}
	}
}
