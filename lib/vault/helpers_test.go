package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

const testPass = "correct horse battery"

// newVault makes a vault with a cheap scrypt work factor and returns its
// directory, recovery passphrase and open store.
func newVault(t testing.TB) (string, string, *Store) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vault")
	rec, err := Init(dir, testPass, InitOptions{WorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dir, KeySource{Prompt: prompt(testPass)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Lock(dir) }) // best effort: the cached key expires anyway
	return dir, rec, s
}

func prompt(p string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return p, nil }
}

// dirHash fingerprints every file in dir, to show that nothing changed.
func dirHash(t testing.TB, dir string) string {
	t.Helper()
	var names []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error { // the walk function never fails it
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(n + "\x00"))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
