package task

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// The profile keeps the engine's rules but lets no call make a user
// namespace: clone and unshare only without CLONE_NEWUSER, clone3 never.
func TestSeccompWithoutUserNS(t *testing.T) {
	in := []byte(`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
	 {"names":["read","clone","clone3","unshare","write"],"action":"SCMP_ACT_ALLOW","args":[]},
	 {"names":["unshare"],"action":"SCMP_ACT_ALLOW","args":[],"includes":{"caps":["CAP_SYS_ADMIN"]}},
	 {"name":"clone","action":"SCMP_ACT_ALLOW","args":[]}]}`)
	out, err := withoutUserNS(in)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		DefaultAction string `json:"defaultAction"`
		Syscalls      []struct {
			Name   string
			Names  []string
			Action string
			Args   []struct {
				Index, Value, ValueTwo uint64
				Op                     string
			}
		}
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Fatalf("default action lost: %s", out)
	}
	var sawRead, sawClone, sawClone3 bool
	for _, s := range p.Syscalls {
		names := append(s.Names, s.Name)
		if slices.Contains(names, "read") && s.Action == "SCMP_ACT_ALLOW" {
			sawRead = true
		}
		for _, n := range []string{"clone", "unshare", "clone3"} {
			if !slices.Contains(names, n) {
				continue
			}
			switch {
			case n == "clone3":
				sawClone3 = s.Action == "SCMP_ACT_ERRNO"
			case s.Action == "SCMP_ACT_ALLOW":
				if len(s.Args) != 1 || s.Args[0].Value != cloneNewUser || s.Args[0].ValueTwo != 0 || s.Args[0].Op != "SCMP_CMP_MASKED_EQ" {
					t.Errorf("%s allowed without the CLONE_NEWUSER condition: %+v", n, s)
				}
				sawClone = true
			}
		}
	}
	if !sawRead || !sawClone || !sawClone3 {
		t.Fatalf("read %v clone %v clone3 %v in %s", sawRead, sawClone, sawClone3, out)
	}
	if _, err := withoutUserNS([]byte(`{"syscalls":3}`)); err == nil {
		t.Fatal("a broken profile was accepted")
	}
}

// The profile is written once per content, readable by the engine.
func TestSeccompProfileFile(t *testing.T) {
	_, err := os.Stat(EngineSeccompProfile)
	testenv.Need(t, err == nil, "no engine seccomp profile (apt-get install -y podman)")
	dir := t.TempDir()
	a, err := SeccompProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SeccompProfile(dir)
	if err != nil || a != b {
		t.Fatalf("second write: %s %v (first %s)", b, err, a)
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("profile %s: %v %v", a, fi, err)
	}
}
