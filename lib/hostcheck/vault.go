package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/terok-ai/terok-go/lib/vault"
)

// VaultProbe is what the vault check knows of terok's configuration.
type VaultProbe struct {
	// Dir is the vault's directory (DATA/vault).
	Dir string
	// PassphraseCommand: config.toml sets vault.passphrase_command.
	PassphraseCommand bool
	// Needs are the configured agents that use a vault provider (the
	// global image.agents and every project's): a vault missing is a
	// warning only when one does.
	Needs []string
}

// checkVault reports the vault's state without ever asking for a
// passphrase or running passphrase_command (either may prompt): the
// credentials are counted only when the kernel keyring holds the key.
func checkVault(ctx context.Context, p *VaultProbe, uid int) Result {
	r := Result{Check: "vault", Status: OK}
	if p == nil {
		r.Status, r.Detail, r.Fix = Warn, "not checked: terok's paths could not be resolved", "see the config check"
		return r
	}
	st, err := vault.GetStatus(p.Dir)
	if err != nil {
		r.Status, r.Detail = Fail, err.Error()
		r.Fix = "restore " + p.Dir + " from a backup, or move it away and run 'terok-vault init' (its credentials are lost)"
		return r
	}
	if !st.Initialized {
		r.Detail = "not created; no configured agent needs it (the command agent uses no credentials)"
		r.Fix = "terok-vault init, then terok-vault set PROVIDER, before running an agent with a model provider"
		if len(p.Needs) > 0 {
			r.Status = Warn
			r.Detail = "not created, and " + strings.Join(p.Needs, ", ") + " need it"
			r.Fix = "terok-vault init, then terok-vault set PROVIDER (terok-vault routes lists the providers)"
		}
		return r
	}
	if problem := vaultFileProblem(p.Dir, uid); problem != "" {
		r.Status, r.Detail = Fail, problem
		r.Fix = fmt.Sprintf("chmod 700 %s && chmod 600 %s/*, owned by you (uid %d)", p.Dir, p.Dir, uid)
		return r
	}
	switch {
	case st.Cached:
		r.Detail = "unlocked"
		if st.CachedFor != "" {
			r.Detail += " (the kernel keeps the key " + st.CachedFor + " more)"
		}
		s, err := vault.Open(ctx, p.Dir, vault.KeySource{Keyring: true})
		if err == nil {
			var creds []vault.Entry
			if creds, err = s.List(); err == nil {
				names := make([]string, 0, len(creds))
				for _, c := range creds {
					names = append(names, c.Provider)
				}
				r.Detail += fmt.Sprintf("; %d credential(s)", len(creds))
				if len(names) > 0 {
					r.Detail += ": " + strings.Join(names, ", ")
				}
			}
		}
		var le *vault.LockedError
		if err != nil && !errors.As(err, &le) { // locked meanwhile: the detail says enough
			r.Status, r.Detail = Fail, r.Detail+"; the store does not open: "+err.Error()
			r.Fix = "restore " + p.Dir + " from a backup"
		}
	case p.PassphraseCommand:
		r.Detail = "locked; vault.passphrase_command opens it when a task needs it (not run here)"
	default:
		r.Status = Warn
		r.Detail = "locked: a task that needs it starts only from a terminal, where its passphrase is asked"
		if st.Keyring != "" {
			r.Detail += "; " + st.Keyring
		}
		r.Fix = "terok-vault unlock (for vault.unlock_ttl), or set [vault] passphrase_command in config.toml (for cron and timers)"
	}
	return r
}

// vaultFileProblem says what is wrong with the vault's directory or the
// files in it: not owned by uid, or open to the group or others. "" if
// nothing.
func vaultFileProblem(dir string, uid int) string {
	paths := []string{dir}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	for _, e := range ents {
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile (a temporary file)
				continue
			}
			return err.Error()
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return p + " is a symbolic link"
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
			return fmt.Sprintf("%s is owned by uid %d, not %d", p, st.Uid, uid)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return fmt.Sprintf("%s is open to the group or others (mode %04o)", p, perm)
		}
	}
	return ""
}
