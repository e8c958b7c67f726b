package task

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/terok-ai/terok-go/lib/store"
)

// EngineSeccompProfile is the engine's own default seccomp profile. terok
// starts from it, so the profile is always in the format this host's
// Podman reads.
var EngineSeccompProfile = "/usr/share/containers/seccomp.json"

// SeccompName names terok's profile in a task's hardening.
const SeccompName = "engine default, no user namespaces"

// cloneNewUser is CLONE_NEWUSER.
const cloneNewUser = 0x10000000

// SeccompProfile writes terok's seccomp profile into dir (once per content)
// and returns its path. It is the engine's default profile, which lets an
// unprivileged process create user namespaces, with that taken away: clone
// and unshare are allowed only without CLONE_NEWUSER, and clone3 (whose
// flags seccomp cannot see) answers ENOSYS, so C libraries fall back to
// clone. A nested user namespace would hand the agent every capability
// inside it — the kernel's widest attack surface — for nothing an agent
// needs.
func SeccompProfile(dir string) (string, error) {
	b, err := os.ReadFile(EngineSeccompProfile)
	if err != nil {
		return "", fmt.Errorf("reading the engine's seccomp profile: %w", err)
	}
	out, err := withoutUserNS(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", EngineSeccompProfile, err)
	}
	sum := sha256.Sum256(out)
	path := filepath.Join(dir, "seccomp-"+hex.EncodeToString(sum[:6])+".json")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, store.WriteFile(path, out, 0o644)
}

// withoutUserNS rewrites a seccomp profile (JSON) so that no user namespace
// can be created.
func withoutUserNS(profile []byte) ([]byte, error) {
	var p map[string]any
	if err := json.Unmarshal(profile, &p); err != nil {
		return nil, err
	}
	calls, ok := p["syscalls"].([]any)
	if !ok {
		return nil, errors.New("no syscalls list")
	}
	gated := []string{"clone", "clone3", "unshare"}
	isGated := func(n any) bool { s, _ := n.(string); return slices.Contains(gated, s) }
	kept := calls[:0]
	for _, c := range calls {
		m, ok := c.(map[string]any)
		if !ok {
			return nil, errors.New("a syscalls entry is not an object")
		}
		if names, ok := m["names"].([]any); ok {
			if names = slices.DeleteFunc(names, isGated); len(names) == 0 {
				continue
			}
			m["names"] = names
		}
		if isGated(m["name"]) {
			continue
		}
		kept = append(kept, m)
	}
	calls = kept
	noNewUser := []any{map[string]any{"index": 0, "value": cloneNewUser, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}}
	calls = append(calls,
		map[string]any{"names": []string{"clone", "unshare"}, "action": "SCMP_ACT_ALLOW", "args": noNewUser,
			"comment": "terok: no CLONE_NEWUSER"},
		map[string]any{"names": []string{"clone3"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": []any{},
			"comment": "terok: clone3's flags are out of seccomp's sight; ENOSYS makes libc use clone"},
	)
	p["syscalls"] = calls
	return json.MarshalIndent(p, "", "\t")
}
