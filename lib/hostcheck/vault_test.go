package hostcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/vault"
)

const vaultTestPass = "a test passphrase"

func TestCheckVault(t *testing.T) {
	ctx := context.Background()
	uid := os.Getuid()
	dir := filepath.Join(t.TempDir(), "vault")
	check := func(p *VaultProbe) Result {
		t.Helper()
		r := checkVault(ctx, p, uid)
		if r.Check != "vault" || r.Status != OK && r.Fix == "" {
			t.Errorf("record %+v: not the vault's, or not ok without a fix", r)
		}
		return r
	}

	if r := check(nil); r.Status != Warn {
		t.Errorf("no probe: %+v", r)
	}
	// Not created: fine for a user of the command agent alone, a warning
	// once a configured agent needs it.
	if r := check(&VaultProbe{Dir: dir}); r.Status != OK || !strings.Contains(r.Detail, "not created") {
		t.Errorf("no vault, no agent needing one: %+v", r)
	}
	if r := check(&VaultProbe{Dir: dir, Needs: []string{"claude", "codex"}}); r.Status != Warn ||
		!strings.Contains(r.Detail, "claude, codex") || !strings.Contains(r.Fix, "terok-vault init") {
		t.Errorf("no vault, claude and codex configured: %+v", r)
	}

	if _, err := vault.Init(dir, vaultTestPass, vault.InitOptions{WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vault.Lock(dir) })
	// Locked: a warning naming both ways out, unless passphrase_command
	// opens it (which the doctor never runs).
	if r := check(&VaultProbe{Dir: dir}); r.Status != Warn || !strings.Contains(r.Detail, "locked") ||
		!strings.Contains(r.Fix, "terok-vault unlock") || !strings.Contains(r.Fix, "passphrase_command") {
		t.Errorf("locked: %+v", r)
	}
	if r := check(&VaultProbe{Dir: dir, PassphraseCommand: true}); r.Status != OK || !strings.Contains(r.Detail, "passphrase_command") {
		t.Errorf("locked, with passphrase_command: %+v", r)
	}

	// Files open to others, or a directory: a failure naming the file.
	for _, c := range []struct {
		path string
		mode os.FileMode
		back os.FileMode
	}{
		{filepath.Join(dir, vault.IdentityFile), 0o644, 0o600},
		{filepath.Join(dir, vault.StoreFile), 0o640, 0o600},
		{dir, 0o755, 0o700},
	} {
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
		if r := check(&VaultProbe{Dir: dir, PassphraseCommand: true}); r.Status != Fail || !strings.Contains(r.Detail, c.path) ||
			!strings.Contains(r.Fix, "chmod") {
			t.Errorf("%s with mode %o: %+v", c.path, c.mode, r)
		}
		if err := os.Chmod(c.path, c.back); err != nil {
			t.Fatal(err)
		}
	}
	// Another owner: a failure too.
	if r := checkVault(ctx, &VaultProbe{Dir: dir, PassphraseCommand: true}, uid+1); r.Status != Fail || !strings.Contains(r.Detail, "owned by uid") {
		t.Errorf("another owner: %+v", r)
	}

	// Unlocked: the credentials are counted, without a passphrase.
	kr := vault.Keyring{Desc: "terok-hostcheck-test-probe"}
	err := kr.Put([]byte("x"), 5*time.Second)
	_ = kr.Clear() // the probe expires in seconds anyway
	if err == nil {
		s, err := vault.Unlock(ctx, dir, vault.KeySource{Prompt: func(context.Context) (string, error) { return vaultTestPass, nil }}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("anthropic", vault.Credential{Kind: vault.APIKey, APIKey: "sk-test"}); err != nil {
			t.Fatal(err)
		}
		if r := check(&VaultProbe{Dir: dir}); r.Status != OK || !strings.Contains(r.Detail, "unlocked") ||
			!strings.Contains(r.Detail, "1 credential(s): anthropic") || strings.Contains(r.Detail, "sk-test") {
			t.Errorf("unlocked: %+v", r)
		}
		if err := vault.Lock(dir); err != nil {
			t.Fatal(err)
		}
	}

	// A damaged identity file: a failure, and nothing asked.
	if err := os.WriteFile(filepath.Join(dir, vault.IdentityFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := check(&VaultProbe{Dir: dir, PassphraseCommand: true}); r.Status != Fail || !strings.Contains(r.Fix, "backup") {
		t.Errorf("damaged identity file: %+v", r)
	}
	testenv.Need(t, err == nil, "the kernel keyring is unavailable here (the unlocked case was not checked): "+errText(err))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
