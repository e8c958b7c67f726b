package vault

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestKeyTimeoutColumn(t *testing.T) {
	text := "0dd2e5b4 I------     1 perm 0f0b0000     0     0 keyring   .blacklist: empty\n" +
		"1a2b3c4d I--Q---     1   7h 3f3f0000     0     0 user      terok-vault:00: 64\n" +
		"0000002a I--Q---     1 perm 3f3f0000     0     0 user      terok-vault:01: 64\n" +
		"0000002b I--Q---     1 expd 3f3f0000     0     0 user      terok-vault:02: 64\n"
	for _, c := range []struct {
		id   int
		want string
		err  bool
	}{
		{0x1a2b3c4d, "7h", false},
		{0x2a, "", false},
		{0x2b, "", true},
		{0x99, "", true},
	} {
		got, err := keyTimeout(text, c.id)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("key %x: %q, %v; want %q (error: %v)", c.id, got, err, c.want, c.err)
		}
	}
	if _, err := keyTimeout(text, 0x2b); !errors.Is(err, ErrKeyringEmpty) {
		t.Errorf("an expired key: %v, want ErrKeyringEmpty", err)
	}
}

// GetStatus says how long the kernel keeps the key, as the kernel counts.
func TestStatusCachedFor(t *testing.T) {
	keyringOK(t)
	dir, _, _ := newVault(t)
	ctx := context.Background()
	if _, err := Unlock(ctx, dir, KeySource{Prompt: prompt(testPass)}, 90*time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, err := GetStatus(dir); err != nil || !st.Cached || st.CachedFor != "1h" {
		t.Fatalf("status after a 90 min unlock: %+v, %v", st, err)
	}
	if _, err := Unlock(ctx, dir, KeySource{Prompt: prompt(testPass)}, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := GetStatus(dir); err != nil || !st.Cached || st.CachedFor != "" {
		t.Fatalf("status after an unlock without timeout: %+v, %v", st, err)
	}
	if err := Lock(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := GetStatus(dir); err != nil || st.Cached || st.CachedFor != "" {
		t.Fatalf("status after lock: %+v, %v", st, err)
	}
}
