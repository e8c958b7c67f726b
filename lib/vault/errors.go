package vault

import (
	"errors"
	"fmt"
	"strings"
)

// LockedError says the store's key could not be had from any source: no
// handed-over key, nothing in the kernel keyring, no passphrase_command and
// no prompt (no terminal). It never waits: a task started by cron or a
// systemd timer fails at once with it.
type LockedError struct {
	// Why lists what was tried and why it gave nothing, one phrase each.
	Why []string
}

func (e *LockedError) Error() string {
	msg := "the vault is locked"
	if len(e.Why) > 0 {
		msg += ": " + strings.Join(e.Why, "; ")
	}
	return msg
}

// ExitCode is 3: the host is not set up to run the task (see terok(1)).
func (e *LockedError) ExitCode() int { return 3 }

// Hint names the two ways out.
func (e *LockedError) Hint() string {
	return "run 'terok-vault unlock' (caches the key in the kernel keyring for a while), or set [vault] passphrase_command in config.toml"
}

// NotInitializedError says there is no vault in the directory.
type NotInitializedError struct{ Dir string }

func (e *NotInitializedError) Error() string {
	return fmt.Sprintf("no vault in %s", e.Dir)
}
func (e *NotInitializedError) ExitCode() int { return 3 }
func (e *NotInitializedError) Hint() string  { return "create it: terok-vault init" }

// ExistsError says Init found a vault already.
type ExistsError struct{ Dir string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("a vault exists already in %s", e.Dir)
}

// ErrWrongPassphrase is returned when a passphrase opens neither wrapping
// of the store's identity. Nothing on disk is changed.
var ErrWrongPassphrase = errors.New("wrong passphrase: it opens neither the vault's key nor its recovery key")

// NoCredentialError says the store holds no credential for a provider.
type NoCredentialError struct{ Provider string }

func (e *NoCredentialError) Error() string {
	return fmt.Sprintf("the vault holds no credential for %s", e.Provider)
}
func (e *NoCredentialError) ExitCode() int { return 4 }
func (e *NoCredentialError) Hint() string {
	return "store one: terok-vault set " + e.Provider
}

// KeyError says the store's file does not open with the key at hand: it
// was made with another identity (another vault's, or a re-keyed one).
type KeyError struct {
	Path string
	Err  error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%s does not open with this vault's key: %v", e.Path, e.Err)
}
func (e *KeyError) Unwrap() error { return e.Err }
