package vault

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/terok-ai/terok-go/lib/store"
)

// The key hierarchy. The store is encrypted to an X25519 identity (age);
// the identity is kept in IdentityFile wrapped twice with age's scrypt
// recipient: once by the user's passphrase and once by a recovery
// passphrase made at Init. Deriving the identity from a passphrase costs
// scrypt's ~1 s once; after that a process holds the identity itself (a
// Key), caches it in the kernel keyring or hands it to a child, and every
// decryption of the store costs microseconds.
const (
	// IdentityFile holds the wrapped identity and its public recipient.
	IdentityFile = "identity.json"
	// StoreFile holds the credentials, age-encrypted to the identity.
	StoreFile = "credentials.age"

	// DefaultWorkFactor is scrypt's log2(N) for the passphrase wrapping:
	// age's own default, about a second on a laptop.
	DefaultWorkFactor = 18
	// recoveryWorkFactor is lower: a recovery passphrase carries 160 random
	// bits, which no work factor needs to stretch.
	recoveryWorkFactor = 12
	// MinPassphrase is the shortest passphrase Init and ChangePassphrase take.
	MinPassphrase = 8

	// DefaultCommandTimeout bounds a passphrase_command.
	DefaultCommandTimeout = 30 * time.Second
)

// Key is the store's unwrapped identity. Whoever holds it can read every
// credential: it is kept in memory, in the kernel keyring, or written to a
// pipe for a child process (WriteTo, ReadKey) — never to a file, an
// environment variable or an argument. String shows only the public half.
type Key struct {
	id *age.X25519Identity
}

// Recipient is the public half, age1...
func (k *Key) Recipient() string { return k.id.Recipient().String() }

func (k *Key) String() string   { return "vault key " + k.Recipient() }
func (k *Key) GoString() string { return k.String() }

// WriteTo writes the key as one line, for ReadKey at the other end of a
// pipe.
func (k *Key) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, k.id.String()+"\n")
	return int64(n), err
}

// ReadKey reads a key written by WriteTo (one line, at most 1 KiB).
func ReadKey(r io.Reader) (*Key, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return nil, fmt.Errorf("reading the vault key: %w", err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(line))
	if err != nil {
		return nil, errors.New("reading the vault key: not an age identity")
	}
	return &Key{id: id}, nil
}

// identityFile is IdentityFile's content.
type identityFile struct {
	Version    int       `json:"version"`
	Recipient  string    `json:"recipient"`
	Passphrase string    `json:"passphrase"` // armored age file: the identity, scrypt-wrapped
	Recovery   string    `json:"recovery"`   // the same, wrapped by the recovery passphrase
	Created    time.Time `json:"created"`
}

func readIdentityFile(dir string) (*identityFile, error) {
	var f identityFile
	path := filepath.Join(dir, IdentityFile)
	if err := store.ReadJSON(path, &f); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &NotInitializedError{Dir: dir}
		}
		return nil, err
	}
	if f.Version != 1 || f.Recipient == "" || f.Passphrase == "" || f.Recovery == "" {
		return nil, &store.CorruptError{Path: path, Err: errors.New("missing fields or unknown version")}
	}
	if _, err := age.ParseX25519Recipient(f.Recipient); err != nil {
		return nil, &store.CorruptError{Path: path, Err: err}
	}
	return &f, nil
}

// InitOptions tune Init.
type InitOptions struct {
	// WorkFactor is scrypt's log2(N) for the passphrase; 0: DefaultWorkFactor.
	// Tests lower it.
	WorkFactor int
}

// Init creates the vault in dir: a new identity, wrapped by passphrase and
// by a recovery passphrase, and an empty store. It returns the recovery
// passphrase, which exists nowhere else: the caller shows it once.
func Init(dir, passphrase string, opt InitOptions) (recovery string, err error) {
	if len(passphrase) < MinPassphrase {
		return "", fmt.Errorf("the passphrase is shorter than %d characters", MinPassphrase)
	}
	unlock, err := store.Lock(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Lstat(filepath.Join(dir, IdentityFile)); err == nil {
		return "", &ExistsError{Dir: dir}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	recovery = newRecoveryPassphrase()
	f := identityFile{Version: 1, Recipient: id.Recipient().String(), Created: time.Now().UTC()}
	if f.Passphrase, err = wrap(id, passphrase, workFactor(opt.WorkFactor)); err != nil {
		return "", err
	}
	if f.Recovery, err = wrap(id, recovery, recoveryWorkFactor); err != nil {
		return "", err
	}
	// The store first, the identity last: a vault exists once its
	// identity file does, and then its store is there.
	data, err := sealStore(id.Recipient(), map[string]Credential{})
	if err != nil {
		return "", err
	}
	if err := store.WriteFileLocked(filepath.Join(dir, StoreFile), data, 0o600); err != nil {
		return "", err
	}
	if err := store.WriteJSONLocked(filepath.Join(dir, IdentityFile), &f); err != nil {
		return "", err
	}
	return recovery, nil
}

func workFactor(wf int) int {
	if wf <= 0 {
		return DefaultWorkFactor
	}
	return wf
}

// newRecoveryPassphrase: 160 random bits as eight groups of four base32
// letters, e.g. "k3vq-7ydm-...": easy to copy, and recognisable, so that
// Open tries the recovery wrapping first when given one.
func newRecoveryPassphrase() string {
	b := make([]byte, 20)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	s := strings.ToLower(base32.StdEncoding.EncodeToString(b))
	groups := make([]string, 0, 8)
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, "-")
}

// normalRecovery returns p as a recovery passphrase (lower case, spaces
// removed) and whether it has that shape.
func normalRecovery(p string) (string, bool) {
	p = strings.ToLower(strings.Join(strings.Fields(p), ""))
	if len(p) != 39 {
		return p, false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if i%5 == 4 {
			if c != '-' {
				return p, false
			}
		} else if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return p, false
		}
	}
	return p, true
}

func wrap(id *age.X25519Identity, passphrase string, wf int) (string, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return "", err
	}
	r.SetWorkFactor(wf)
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, id.String()); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// unwrap opens one wrapping: ErrWrongPassphrase if the passphrase is not
// its own, a *store.CorruptError if the wrapping is damaged.
func unwrap(path, armored, passphrase string) (*age.X25519Identity, error) {
	sid, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, ErrWrongPassphrase // an empty passphrase
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), sid)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, &store.CorruptError{Path: path, Err: err}
	}
	b, err := io.ReadAll(io.LimitReader(r, 1024))
	if err != nil {
		return nil, &store.CorruptError{Path: path, Err: err}
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, &store.CorruptError{Path: path, Err: errors.New("the wrapped identity is not an age identity")}
	}
	return id, nil
}

// keyFromPassphrase opens the identity with a passphrase or the recovery
// passphrase (tried first when the input has the recovery's shape).
func keyFromPassphrase(dir string, f *identityFile, passphrase string) (*Key, error) {
	path := filepath.Join(dir, IdentityFile)
	tries := []string{f.Passphrase, f.Recovery}
	pass := []string{passphrase, passphrase}
	if rec, ok := normalRecovery(passphrase); ok {
		tries[0], tries[1] = f.Recovery, f.Passphrase
		pass[0] = rec
	}
	for i := range tries {
		id, err := unwrap(path, tries[i], pass[i])
		if err == nil {
			if id.Recipient().String() != f.Recipient {
				return nil, &store.CorruptError{Path: path, Err: errors.New("the wrapped identity does not match the recipient")}
			}
			return &Key{id: id}, nil
		}
		if err != ErrWrongPassphrase {
			return nil, err
		}
	}
	return nil, ErrWrongPassphrase
}

// KeySource says where Open finds the store's key. The sources are tried
// in this order, the first that answers wins:
//
//  1. Key, a key handed over by a parent process (ReadKey);
//  2. the kernel keyring, if Keyring is set (filled by Unlock, it holds
//     the identity itself, so it costs a syscall);
//  3. Command, the passphrase_command: run without a shell, its stdout's
//     first line is the passphrase, bounded by CommandTimeout;
//  4. Prompt, asked for the passphrase (the command line gives one only
//     when a person is at a terminal).
//
// A source that is configured and fails (the command exits non-zero, the
// passphrase is wrong) ends the search with its error: a misconfigured
// vault fails closed rather than falling back to a prompt. With no source
// that answers, Open returns a *LockedError at once.
type KeySource struct {
	Key     *Key
	Keyring bool
	// CacheTTL, if set with Keyring, caches a key derived from a
	// passphrase (Command or Prompt) in the kernel keyring for that long.
	CacheTTL       time.Duration
	Command        []string
	CommandTimeout time.Duration
	Prompt         func(ctx context.Context) (string, error)
}

// keyringFor is the keyring entry of the vault with recipient r: the
// description names a hash of the public key, so two vaults (a test's and
// the user's) never share an entry.
func keyringFor(recipient string) Keyring {
	h := sha256.Sum256([]byte(recipient))
	return Keyring{Desc: "terok-vault:" + hex.EncodeToString(h[:8])}
}

// Open finds the store's key (see KeySource) and returns the store.
func Open(ctx context.Context, dir string, ks KeySource) (*Store, error) {
	f, err := readIdentityFile(dir)
	if err != nil {
		return nil, err
	}
	key, err := findKey(ctx, dir, f, ks)
	if err != nil {
		return nil, err
	}
	return newStore(dir, key), nil
}

func findKey(ctx context.Context, dir string, f *identityFile, ks KeySource) (*Key, error) {
	if ks.Key != nil {
		if ks.Key.Recipient() != f.Recipient {
			return nil, &KeyError{Path: filepath.Join(dir, IdentityFile), Err: errors.New("the key handed over is another vault's")}
		}
		return ks.Key, nil
	}
	var why []string
	kr := keyringFor(f.Recipient)
	if ks.Keyring {
		key, err := keyFromKeyring(kr, f.Recipient)
		switch {
		case err == nil:
			return key, nil
		case errors.Is(err, ErrKeyringEmpty):
			why = append(why, "nothing cached in the kernel keyring")
		default:
			why = append(why, err.Error())
		}
	}
	var (
		pass   string
		err    error
		source string
	)
	switch {
	case len(ks.Command) > 0:
		source = "passphrase_command"
		pass, err = runPassphraseCommand(ctx, ks.Command, ks.CommandTimeout)
	case ks.Prompt != nil:
		source = "prompt"
		pass, err = ks.Prompt(ctx)
	default:
		why = append(why, "no passphrase_command", "no terminal to ask for the passphrase")
		return nil, &LockedError{Why: why}
	}
	if err != nil {
		return nil, err
	}
	key, err := keyFromPassphrase(dir, f, pass)
	if err != nil {
		if err == ErrWrongPassphrase {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		return nil, err
	}
	if ks.Keyring && ks.CacheTTL > 0 {
		_ = kr.Put([]byte(key.id.String()), ks.CacheTTL) // a cache: failing to fill it costs only speed
	}
	return key, nil
}

func keyFromKeyring(kr Keyring, recipient string) (*Key, error) {
	b, err := kr.Get()
	if err != nil {
		return nil, err
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
	if err != nil || id.Recipient().String() != recipient {
		_ = kr.Clear() // not ours, or damaged: forget it; failing leaves it to expire
		return nil, ErrKeyringEmpty
	}
	return &Key{id: id}, nil
}

// runPassphraseCommand runs argv (no shell: a user who wants one writes
// ["sh", "-c", "..."]) with stdin from /dev/null and returns the first line
// of its stdout. It is killed, with its process group, after timeout.
func runPassphraseCommand(ctx context.Context, argv []string, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb limitedBuffer
	out.max, errb.max = 64<<10, 4<<10
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return "", fmt.Errorf("passphrase_command %q did not answer within %s", argv[0], timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(strings.SplitN(errb.String(), "\n", 2)[0])
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg != "" {
			return "", fmt.Errorf("passphrase_command %q failed: %v: %s", argv[0], err, msg)
		}
		return "", fmt.Errorf("passphrase_command %q failed: %v", argv[0], err)
	}
	line := strings.TrimRight(strings.SplitN(out.String(), "\n", 2)[0], "\r")
	if line == "" {
		return "", fmt.Errorf("passphrase_command %q printed no passphrase", argv[0])
	}
	return line, nil
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

// Unlock asks for the passphrase (Command, else Prompt; the keyring and a
// handed-over Key are not consulted), opens the identity and caches it in
// the kernel keyring for ttl (0: until Lock or reboot), so that later Opens
// with Keyring set need no passphrase. It fails with a *KeyringUnavailableError where the keyring
// cannot be used.
func Unlock(ctx context.Context, dir string, ks KeySource, ttl time.Duration) (*Store, error) {
	f, err := readIdentityFile(dir)
	if err != nil {
		return nil, err
	}
	ks.Key, ks.Keyring, ks.CacheTTL = nil, false, 0
	key, err := findKey(ctx, dir, f, ks)
	if err != nil {
		return nil, err
	}
	if err := keyringFor(f.Recipient).Put([]byte(key.id.String()), ttl); err != nil {
		return nil, err
	}
	return newStore(dir, key), nil
}

// Lock drops the key cached in the kernel keyring. Processes that hold the
// key already (a running warden) keep it.
func Lock(dir string) error {
	f, err := readIdentityFile(dir)
	if err != nil {
		return err
	}
	return keyringFor(f.Recipient).Clear()
}

// Status is what `terok-vault status` reports; nothing in it is secret.
type Status struct {
	Dir         string `json:"dir"`
	Initialized bool   `json:"initialized"`
	Recipient   string `json:"recipient,omitempty"`
	// Cached: the kernel keyring holds this vault's key.
	Cached bool `json:"cached"`
	// CachedFor is how long the kernel keeps it still, in its own rough
	// count rounded down ("7h", "59m"; see Keyring.Timeout); "" when it
	// has no timeout or the kernel does not say.
	CachedFor string `json:"cached_for,omitempty"`
	// Keyring is why the keyring cannot be used, if it cannot.
	Keyring string `json:"keyring_error,omitempty"`
}

// GetStatus reports on the vault in dir without asking for any key.
func GetStatus(dir string) (Status, error) {
	st := Status{Dir: dir}
	f, err := readIdentityFile(dir)
	var notInit *NotInitializedError
	if errors.As(err, &notInit) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	st.Initialized, st.Recipient = true, f.Recipient
	_, err = keyFromKeyring(keyringFor(f.Recipient), f.Recipient)
	switch {
	case err == nil:
		st.Cached = true
		st.CachedFor, _ = keyringFor(f.Recipient).Timeout() // a detail: without it the status says only "cached"
	case !errors.Is(err, ErrKeyringEmpty):
		st.Keyring = err.Error()
	}
	return st, nil
}

// ChangePassphrase re-wraps the identity with a new passphrase; the key
// (from ks: the old passphrase, or the recovery passphrase at the prompt)
// and the recovery passphrase stay as they are, and so does the store.
func ChangePassphrase(ctx context.Context, dir string, ks KeySource, newPassphrase string, opt InitOptions) error {
	if len(newPassphrase) < MinPassphrase {
		return fmt.Errorf("the passphrase is shorter than %d characters", MinPassphrase)
	}
	f, err := readIdentityFile(dir)
	if err != nil {
		return err
	}
	key, err := findKey(ctx, dir, f, ks)
	if err != nil {
		return err
	}
	wrapped, err := wrap(key.id, newPassphrase, workFactor(opt.WorkFactor))
	if err != nil {
		return err
	}
	return store.UpdateJSON(filepath.Join(dir, IdentityFile), func(rec *identityFile, exists bool) error {
		if !exists || rec.Recipient != key.Recipient() {
			return &KeyError{Path: filepath.Join(dir, IdentityFile), Err: errors.New("the vault changed meanwhile")}
		}
		rec.Passphrase = wrapped
		return nil
	})
}
