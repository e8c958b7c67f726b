package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

func TestSetGetListRemove(t *testing.T) {
	dir, _, s := newVault(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := s.Set("anthropic", Credential{Kind: APIKey, APIKey: "sk-ant-real", Source: "set"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("openai", Credential{Kind: OAuth, AccessToken: "at", RefreshToken: "rt", Expiry: exp}); err != nil {
		t.Fatal(err)
	}
	// Another process (another Store on the same directory) sees both.
	s2, err := Open(context.Background(), dir, KeySource{Key: s.Key()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s2.Get("anthropic")
	if err != nil || c.APIKey != "sk-ant-real" || c.Kind != APIKey || c.Updated.IsZero() {
		t.Fatalf("Get: %+v %v", c, err)
	}
	list, err := s2.List()
	if err != nil || len(list) != 2 || list[0].Provider != "anthropic" || list[1].Provider != "openai" ||
		!list[1].Refreshable || !list[1].Expiry.Equal(exp) {
		t.Fatalf("List: %+v %v", list, err)
	}
	if err := s2.Remove("anthropic"); err != nil {
		t.Fatal(err)
	}
	// The first store's cache notices the change on disk.
	var nc *NoCredentialError
	if _, err := s.Get("anthropic"); !errors.As(err, &nc) || nc.Provider != "anthropic" {
		t.Fatalf("Get after Remove: %v", err)
	}
	if err := s.Remove("anthropic"); !errors.As(err, &nc) {
		t.Fatalf("Remove twice: %v", err)
	}
	for _, name := range []string{StoreFile, IdentityFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	// The secret is not in the file in the clear.
	raw, _ := os.ReadFile(filepath.Join(dir, StoreFile))
	if strings.Contains(string(raw), "sk-ant-real") || strings.Contains(string(raw), "refresh_token") {
		t.Fatal("the store file holds a secret in the clear")
	}
}

func TestSetRefusesBadCredentials(t *testing.T) {
	dir, _, s := newVault(t)
	before := dirHash(t, dir)
	for _, tc := range []struct {
		provider string
		c        Credential
		want     string
	}{
		{"anthropic", Credential{Kind: APIKey}, "empty"},
		{"anthropic", Credential{Kind: APIKey, APIKey: "a\r\nX-Evil: 1"}, "control"},
		{"anthropic", Credential{Kind: APIKey, APIKey: "two words"}, "spaces"},
		{"anthropic", Credential{Kind: "password", APIKey: "x"}, "unknown credential kind"},
		{"anthropic", Credential{Kind: OAuth}, "neither"},
		{"anthropic", Credential{Kind: OAuth, AccessToken: "a", TokenURL: "file:///etc/passwd"}, "not an http"},
		{"../etc", Credential{Kind: APIKey, APIKey: "k"}, "invalid provider"},
		{"", Credential{Kind: APIKey, APIKey: "k"}, "invalid provider"},
	} {
		err := s.Set(tc.provider, tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%q, %v) = %v, want %q", tc.provider, tc.c, err, tc.want)
		}
	}
	if dirHash(t, dir) != before {
		t.Fatal("a refused Set changed the vault")
	}
}

func TestCredentialNeverPrintsItsSecret(t *testing.T) {
	c := Credential{Kind: OAuth, AccessToken: "sekrit-access", RefreshToken: "sekrit-refresh", APIKey: "sekrit-key"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, c); strings.Contains(out, "sekrit") {
			t.Errorf("%s prints %q", f, out)
		}
		if out := fmt.Sprintf(f, &c); strings.Contains(out, "sekrit") {
			t.Errorf("%s of a pointer prints %q", f, out)
		}
	}
	_, _, s := newVault(t)
	k := s.Key()
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, k); strings.Contains(out, "AGE-SECRET-KEY") {
			t.Errorf("%s prints the key: %q", f, out)
		}
	}
}

func TestWrongPassphraseChangesNothing(t *testing.T) {
	dir, _, s := newVault(t)
	if err := s.Set("anthropic", Credential{Kind: APIKey, APIKey: "k"}); err != nil {
		t.Fatal(err)
	}
	before := dirHash(t, dir)
	for _, p := range []string{"not the passphrase", "", "aaaa-bbbb-cccc-dddd-eeee-ffff-gggg-hhhh"} {
		_, err := Open(context.Background(), dir, KeySource{Prompt: prompt(p)})
		if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Errorf("Open(%q) = %v, want ErrWrongPassphrase", p, err)
		}
	}
	err := ChangePassphrase(context.Background(), dir, KeySource{Prompt: prompt("nope nope")}, "another passphrase", InitOptions{WorkFactor: 10})
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("ChangePassphrase with a wrong one = %v", err)
	}
	if dirHash(t, dir) != before {
		t.Fatal("a wrong passphrase changed the vault")
	}
}

func TestRecoveryAndChangePassphrase(t *testing.T) {
	dir, rec, s := newVault(t)
	if err := s.Set("mistral", Credential{Kind: APIKey, APIKey: "m"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := normalRecovery(rec); !ok {
		t.Fatalf("recovery %q does not have its own shape", rec)
	}
	// Typed back in upper case with spaces, it still opens the vault.
	typed := strings.ToUpper(strings.ReplaceAll(rec, "-", " - "))
	ctx := context.Background()
	if err := ChangePassphrase(ctx, dir, KeySource{Prompt: prompt(typed)}, "a new passphrase", InitOptions{WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, KeySource{Prompt: prompt(testPass)}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("the old passphrase still opens: %v", err)
	}
	s2, err := Open(ctx, dir, KeySource{Prompt: prompt("a new passphrase")})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s2.Get("mistral"); err != nil || c.APIKey != "m" {
		t.Fatalf("after the change: %v %v", c, err)
	}
	if _, err := Open(ctx, dir, KeySource{Prompt: prompt(rec)}); err != nil {
		t.Fatalf("the recovery passphrase no longer opens: %v", err)
	}
	if err := ChangePassphrase(ctx, dir, KeySource{Key: s.Key()}, "short", InitOptions{}); err == nil {
		t.Fatal("a short passphrase was taken")
	}
}

func TestCorruptFilesChangeNothing(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		damage     func([]byte) []byte
		want       any
	}{
		{"store body", StoreFile, func(b []byte) []byte { b[len(b)-5] ^= 0x40; return b }, new(*store.CorruptError)},
		{"store header", StoreFile, func(b []byte) []byte { return b[:20] }, new(*store.CorruptError)},
		{"store garbage", StoreFile, func([]byte) []byte { return []byte("not age at all") }, new(*store.CorruptError)},
		{"identity json", IdentityFile, func(b []byte) []byte { return b[:len(b)/2] }, new(*store.CorruptError)},
		{"identity fields", IdentityFile, func([]byte) []byte { return []byte(`{"version":1}`) }, new(*store.CorruptError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _, s := newVault(t)
			if err := s.Set("anthropic", Credential{Kind: APIKey, APIKey: "k"}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.file)
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			before := dirHash(t, dir)
			s2, err := Open(context.Background(), dir, KeySource{Key: s.Key()})
			if err == nil {
				_, err = s2.Get("anthropic")
				if err2 := s2.Set("openai", Credential{Kind: APIKey, APIKey: "k2"}); err2 == nil {
					t.Error("Set on a damaged store succeeded")
				}
			}
			ce := tc.want.(**store.CorruptError)
			if !errors.As(err, ce) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("got %v, want a corrupt-record error naming %s", err, tc.file)
			}
			if dirHash(t, dir) != before {
				t.Fatal("a damaged vault was changed")
			}
		})
	}
}

func TestAnotherVaultsKey(t *testing.T) {
	dirA, _, a := newVault(t)
	dirB, _, b := newVault(t)
	var ke *KeyError
	if _, err := Open(context.Background(), dirA, KeySource{Key: b.Key()}); !errors.As(err, &ke) {
		t.Fatalf("B's key on A: %v", err)
	}
	// B's store file copied over A's: A's key does not open it.
	data, _ := os.ReadFile(filepath.Join(dirB, StoreFile))
	if err := os.WriteFile(filepath.Join(dirA, StoreFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("x"); !errors.As(err, &ke) {
		t.Fatalf("B's store under A's key: %v", err)
	}
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v")
	if _, err := Init(dir, "short", InitOptions{WorkFactor: 10}); err == nil {
		t.Fatal("a short passphrase was taken")
	}
	if _, err := os.Stat(filepath.Join(dir, IdentityFile)); err == nil {
		t.Fatal("a refused Init left an identity")
	}
	if _, err := Init(dir, testPass, InitOptions{WorkFactor: 10}); err != nil {
		t.Fatal(err)
	}
	before := dirHash(t, dir)
	var ee *ExistsError
	if _, err := Init(dir, testPass, InitOptions{WorkFactor: 10}); !errors.As(err, &ee) {
		t.Fatalf("second Init: %v", err)
	}
	if dirHash(t, dir) != before {
		t.Fatal("a second Init changed the vault")
	}
	var ni *NotInitializedError
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), "none"), KeySource{Prompt: prompt(testPass)})
	if !errors.As(err, &ni) || ni.ExitCode() != 3 || !strings.Contains(ni.Hint(), "terok-vault init") {
		t.Fatalf("Open of no vault: %v", err)
	}
}

// Twenty writers at once, each setting its own provider, lose nothing.
func TestConcurrentSetGoroutines(t *testing.T) {
	dir, _, s := newVault(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer its own Store, as each process would have.
			si, err := Open(context.Background(), dir, KeySource{Key: s.Key()})
			if err == nil {
				err = si.Set(fmt.Sprintf("p%02d", i), Credential{Kind: APIKey, APIKey: fmt.Sprintf("key-%d", i)})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkAll(t, s, n)
}

func checkAll(t *testing.T, s *Store, n int) {
	t.Helper()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("%d credentials survive of %d", len(list), n)
	}
	for i := 0; i < n; i++ {
		c, err := s.Get(fmt.Sprintf("p%02d", i))
		if err != nil || c.APIKey != fmt.Sprintf("key-%d", i) {
			t.Fatalf("p%02d: %v %v", i, c, err)
		}
	}
}

// TestHelperSet is not a test: it is a writer process of
// TestConcurrentSetProcesses. It reads the vault's key from stdin, the way
// a warden gets it from the command that starts it.
func TestHelperSet(t *testing.T) {
	dir := os.Getenv("TEROK_VAULT_HELPER")
	if dir == "" {
		t.Skip("helper process only")
	}
	key, err := ReadKey(os.Stdin)
	if err == nil {
		var s *Store
		if s, err = Open(context.Background(), dir, KeySource{Key: key}); err == nil {
			i, _ := strconv.Atoi(os.Getenv("TEROK_VAULT_I"))
			err = s.Set(fmt.Sprintf("p%02d", i), Credential{Kind: APIKey, APIKey: fmt.Sprintf("key-%d", i)})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func TestConcurrentSetProcesses(t *testing.T) {
	dir, _, s := newVault(t)
	const n = 20
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSet$")
		cmd.Env = append(os.Environ(), "TEROK_VAULT_HELPER="+dir, "TEROK_VAULT_I="+strconv.Itoa(i))
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Key().WriteTo(in); err != nil {
			t.Fatal(err)
		}
		if err := in.Close(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	checkAll(t, s, n)
}

func TestKeyHandOff(t *testing.T) {
	_, _, s := newVault(t)
	r, w := io.Pipe()
	go func() { _, _ = s.Key().WriteTo(w); _ = w.Close() }() // a failure shows as a short read on r
	k, err := ReadKey(r)
	if err != nil || k.Recipient() != s.Key().Recipient() {
		t.Fatalf("ReadKey: %v %v", k, err)
	}
	for _, in := range []string{"", "hello\n", strings.Repeat("A", 5000)} {
		if _, err := ReadKey(strings.NewReader(in)); err == nil {
			t.Errorf("ReadKey(%.20q) took it", in)
		}
	}
}
