package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// With no source that answers, Open fails at once with the locked error:
// exit 3, a hint naming both ways out, and never a hang.
func TestLockedFailsFast(t *testing.T) {
	dir, _, _ := newVault(t)
	_ = Lock(dir) // no keyring, or nothing in it: locked either way, and Open below checks it
	for _, ks := range []KeySource{{}, {Keyring: true}} {
		start := time.Now()
		_, err := Open(context.Background(), dir, ks)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Open took %s", d)
		}
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("Open(%+v) = %v, want a LockedError", ks, err)
		}
		if le.ExitCode() != 3 || !strings.Contains(le.Hint(), "terok-vault unlock") || !strings.Contains(le.Hint(), "passphrase_command") {
			t.Fatalf("exit %d, hint %q", le.ExitCode(), le.Hint())
		}
		if !strings.Contains(err.Error(), "no terminal") || ks.Keyring && !strings.Contains(err.Error(), "keyring") {
			t.Fatalf("the message does not say what was tried: %v", err)
		}
	}
}

func TestPassphraseCommand(t *testing.T) {
	dir, _, _ := newVault(t)
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(testPass+"\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		argv []string
		want string // "" for success
	}{
		{"first line of stdout", []string{"cat", passFile}, ""},
		{"no shell: a literal argument", []string{"printf", "%s", testPass}, ""},
		{"crlf trimmed", []string{"printf", testPass + "\r\n"}, ""},
		{"wrong passphrase", []string{"echo", "nope"}, "passphrase_command: wrong passphrase"},
		{"exit status", []string{"sh", "-c", "echo boom >&2; exit 3"}, "failed: exit status 3: boom"},
		{"no output", []string{"true"}, "printed no passphrase"},
		{"not found", []string{"/nonexistent/pass"}, "failed"},
		{"timeout", []string{"sleep", "30"}, "did not answer within"},
		{"timeout with a child holding stdout", []string{"sh", "-c", "sleep 30 & sleep 30"}, "did not answer within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(context.Background(), dir, KeySource{Command: tc.argv, CommandTimeout: 300 * time.Millisecond,
				Prompt: func(context.Context) (string, error) { t.Error("prompted after the command"); return "", nil }})
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %s", d)
			}
			if tc.want == "" {
				if err != nil || s == nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want %q", err, tc.want)
			}
		})
	}
}

func keyringOK(t *testing.T) {
	t.Helper()
	k := Keyring{Desc: "terok-vault-test-probe"}
	err := k.Put([]byte("x"), 5*time.Second)
	_ = k.Clear() // the probe expires in seconds anyway
	testenv.Need(t, err == nil, "the kernel keyring is unavailable here: "+errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestUnlockKeyringLock(t *testing.T) {
	keyringOK(t)
	dir, _, s := newVault(t)
	if err := s.Set("anthropic", Credential{Kind: APIKey, APIKey: "k"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st, _ := GetStatus(dir); !st.Initialized || st.Cached {
		t.Fatalf("status before unlock: %+v", st)
	}
	if _, err := Unlock(ctx, dir, KeySource{Prompt: prompt("wrong passphrase")}, time.Minute); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Unlock with a wrong passphrase: %v", err)
	}
	if _, err := Unlock(ctx, dir, KeySource{Prompt: prompt(testPass)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, _ := GetStatus(dir); !st.Cached {
		t.Fatalf("status after unlock: %+v", st)
	}
	// A later process finds the key in the keyring: fast, and no prompt.
	start := time.Now()
	s2, err := Open(ctx, dir, KeySource{Keyring: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s2.Get("anthropic"); err != nil || c.APIKey != "k" {
		t.Fatalf("%v %v", c, err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("opening from the keyring took %s", d)
	}
	// Another vault's entry is not this one's.
	dir2, _, _ := newVault(t)
	var le *LockedError
	if _, err := Open(ctx, dir2, KeySource{Keyring: true}); !errors.As(err, &le) {
		t.Fatalf("another vault opened from this one's keyring entry: %v", err)
	}
	if err := Lock(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, KeySource{Keyring: true}); !errors.As(err, &le) {
		t.Fatalf("Open after Lock: %v", err)
	}
	if st, _ := GetStatus(dir); st.Cached {
		t.Fatalf("status after lock: %+v", st)
	}
}

// A key derived from a passphrase is cached when asked to, and the cache
// dies by itself after its time.
func TestKeyringCacheTTL(t *testing.T) {
	keyringOK(t)
	dir, _, _ := newVault(t)
	ctx := context.Background()
	if _, err := Open(ctx, dir, KeySource{Keyring: true, CacheTTL: time.Second, Prompt: prompt(testPass)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, KeySource{Keyring: true}); err != nil {
		t.Fatalf("not cached: %v", err)
	}
	time.Sleep(2100 * time.Millisecond)
	var le *LockedError
	if _, err := Open(ctx, dir, KeySource{Keyring: true}); !errors.As(err, &le) {
		t.Fatalf("still cached after its TTL: %v", err)
	}
}

// A damaged or foreign value in the keyring entry is dropped, not trusted.
func TestKeyringForeignValue(t *testing.T) {
	keyringOK(t)
	dir, _, _ := newVault(t)
	f, _ := readIdentityFile(dir)
	kr := keyringFor(f.Recipient)
	if err := kr.Put([]byte("AGE-SECRET-KEY-1 not really"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var le *LockedError
	if _, err := Open(context.Background(), dir, KeySource{Keyring: true}); !errors.As(err, &le) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := kr.Get(); !errors.Is(err, ErrKeyringEmpty) {
		t.Fatalf("the damaged entry stayed: %v", err)
	}
}

func TestKeyringErrors(t *testing.T) {
	err := keyringErr("search", os.ErrPermission)
	var ku *KeyringUnavailableError
	if !errors.As(err, &ku) || !strings.Contains(err.Error(), "unavailable") || !strings.Contains(ku.Hint(), "passphrase_command") {
		t.Fatalf("%v", err)
	}
}

// TestHelperKeyring is not a test: it is the child of TestKeyringAcross,
// opening the vault from the keyring alone in a process set up as asked.
func TestHelperKeyring(t *testing.T) {
	dir := os.Getenv("TEROK_VAULT_KEYRING_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	if os.Getenv("TEROK_VAULT_NEW_SESSION") != "" {
		// As systemd gives a service a private session keyring of its own.
		if _, err := unix.KeyctlJoinSessionKeyring("terok-test-session"); err != nil {
			fmt.Println("join:", err)
			os.Exit(1)
		}
	}
	_, err := Open(context.Background(), dir, KeySource{Keyring: true})
	var le *LockedError
	switch {
	case err == nil:
		fmt.Println("opened")
	case errors.As(err, &le):
		fmt.Println("locked")
	default:
		fmt.Println("error:", err)
	}
	os.Exit(0)
}

// The key cached by unlock is found by any later process of the user: one
// with a private session keyring (a systemd service), one started in a new
// session (setsid, as the warden is). Not in another user namespace,
// where @u is another keyring: a rootless warden runs in Podman's, which
// is why a warden gets the key handed over (Key.WriteTo) instead.
func TestKeyringAcrossProcesses(t *testing.T) {
	keyringOK(t)
	dir, _, _ := newVault(t)
	if _, err := Unlock(context.Background(), dir, KeySource{Prompt: prompt(testPass)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	run := func(prefix []string, env ...string) string {
		t.Helper()
		argv := append(prefix, os.Args[0], "-test.run=^TestHelperKeyring$")
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), append(env, "TEROK_VAULT_KEYRING_DIR="+dir)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if got := run(nil); got != "opened" {
		t.Fatalf("a child: %s", got)
	}
	if got := run(nil, "TEROK_VAULT_NEW_SESSION=1"); got != "opened" {
		t.Fatalf("a child with a session keyring of its own: %s", got)
	}
	if got := run([]string{testenv.Tool(t, "setsid", "util-linux"), "--wait"}); got != "opened" {
		t.Fatalf("a child in a new session: %s", got)
	}
	unshare := testenv.Tool(t, "unshare", "util-linux")
	if exec.Command(unshare, "--user", "--map-root-user", "true").Run() != nil {
		t.Log("no user namespaces here; the rootless-warden case is not checked")
		return
	}
	if got := run([]string{unshare, "--user", "--map-root-user"}); got != "locked" {
		t.Fatalf("a child in another user namespace: %s (the keyring was expected not to reach it)", got)
	}
}
