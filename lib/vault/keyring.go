package vault

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel keyring caches the store's identity (never a passphrase) so
// that the processes started after `terok-vault unlock` decrypt in
// microseconds instead of paying for scrypt. The key lives in the user
// keyring (@u): every process of the user reaches it, whatever session
// keyring it runs in (a systemd service's private one, a cron job's, none),
// and the kernel forgets it when its timeout passes or on `lock`.

// Key permissions (linux/keyctl.h; x/sys/unix does not name them). The
// possessor — any process that reaches the key through @u, which every
// process of the user does when it names @u — may do anything; the user
// bits allow the same, because a process whose session keyring does not
// link @u is judged by them when it searches. Group and other: nothing.
const (
	keyPosView    = 0x01000000
	keyPosRead    = 0x02000000
	keyPosWrite   = 0x04000000
	keyPosSearch  = 0x08000000
	keyPosLink    = 0x10000000
	keyPosSetattr = 0x20000000
	keyPosAll     = keyPosView | keyPosRead | keyPosWrite | keyPosSearch | keyPosLink | keyPosSetattr
	keyUsrAll     = keyPosAll >> 8
	keyPerm       = keyPosAll | keyUsrAll
)

// Keyring is one entry of the kernel user keyring, by description.
type Keyring struct {
	Desc string
}

// KeyringUnavailableError says the kernel keyring cannot be used by this
// process (no keyctl: kernel built without keys, a seccomp filter, a full
// quota), as opposed to merely holding nothing.
type KeyringUnavailableError struct {
	Op  string
	Err error
}

func (e *KeyringUnavailableError) Error() string {
	return fmt.Sprintf("the kernel keyring is unavailable (%s: %v)", e.Op, e.Err)
}
func (e *KeyringUnavailableError) Unwrap() error { return e.Err }
func (e *KeyringUnavailableError) Hint() string {
	return "set [vault] passphrase_command in config.toml, so that terok need not cache the key"
}

// ErrKeyringEmpty is returned by Get when the keyring holds no (live)
// entry: never unlocked, locked, or its timeout passed.
var ErrKeyringEmpty = errors.New("nothing cached in the kernel keyring")

func keyringErr(op string, err error) error {
	switch {
	case errors.Is(err, unix.ENOKEY), errors.Is(err, unix.EKEYEXPIRED), errors.Is(err, unix.EKEYREVOKED):
		return ErrKeyringEmpty
	default:
		return &KeyringUnavailableError{Op: op, Err: err}
	}
}

// Put stores secret under the entry's description in @u, replacing any
// previous value, and makes the kernel drop it after ttl (rounded up to a
// second; 0 means never).
func (k Keyring) Put(secret []byte, ttl time.Duration) error {
	id, err := unix.AddKey("user", k.Desc, secret, unix.KEY_SPEC_USER_KEYRING)
	if err != nil {
		return keyringErr("add_key", err)
	}
	if err := unix.KeyctlSetperm(id, keyPerm); err != nil {
		_ = k.invalidate(id) // best effort: the set-up error is the one to report
		return keyringErr("setperm", err)
	}
	secs := int((ttl + time.Second - 1) / time.Second)
	if _, err := unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, secs, 0, 0); err != nil {
		_ = k.invalidate(id) // best effort: the set-up error is the one to report
		return keyringErr("set_timeout", err)
	}
	return nil
}

// Get returns the entry's value: ErrKeyringEmpty when there is none, a
// *KeyringUnavailableError when the keyring cannot be asked.
func (k Keyring) Get() ([]byte, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", k.Desc, 0)
	if err != nil {
		return nil, keyringErr("search", err)
	}
	buf := make([]byte, 512)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			return nil, keyringErr("read", err)
		}
		if n <= len(buf) {
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
}

// Clear removes the entry at once; an absent entry is no error.
func (k Keyring) Clear() error {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", k.Desc, 0)
	if err != nil {
		if err := keyringErr("search", err); err != ErrKeyringEmpty {
			return err
		}
		return nil
	}
	return k.invalidate(id)
}

func (k Keyring) invalidate(id int) error {
	if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0); err != nil {
		if _, err2 := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0); err2 != nil {
			return keyringErr("invalidate", err)
		}
	}
	return nil
}

// Timeout says how long the kernel keeps the entry, in its own rough
// count from /proc/keys, rounded down: "45s", "12m", "7h", "2d", "3w";
// "" when the entry has no timeout. It returns ErrKeyringEmpty when there
// is no live entry, and an error when the keyring or /proc/keys cannot be
// read.
func (k Keyring) Timeout() (string, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", k.Desc, 0)
	if err != nil {
		return "", keyringErr("search", err)
	}
	data, err := os.ReadFile("/proc/keys") // the keys this process may view, with their timeouts
	if err != nil {
		return "", err
	}
	return keyTimeout(string(data), id)
}

// keyTimeout finds key id's timeout column in /proc/keys' text: "ID FLAGS
// USAGE TIMEOUT PERM UID GID TYPE DESCRIPTION: SUMMARY".
func keyTimeout(procKeys string, id int) (string, error) {
	want := fmt.Sprintf("%08x", uint32(id))
	for _, line := range strings.Split(procKeys, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != want {
			continue
		}
		switch f[3] {
		case "perm":
			return "", nil
		case "expd":
			return "", ErrKeyringEmpty
		}
		return f[3], nil
	}
	return "", fmt.Errorf("key %s is not in /proc/keys", want)
}
