package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/terok-ai/terok-go/lib/store"
)

func newTokens(t *testing.T) *Tokens {
	return OpenTokens(filepath.Join(t.TempDir(), "state", "tokens.json"))
}

func TestMintFormat(t *testing.T) {
	tk := newTokens(t)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		tok, err := tk.Mint(fmt.Sprintf("task%d", i), "proj", "anthropic")
		if err != nil {
			t.Fatal(err)
		}
		rest := strings.TrimPrefix(tok, PhantomPrefix)
		if rest == tok || len(rest) < 32 || strings.Trim(rest, "0123456789abcdef") != "" {
			t.Fatalf("token %q: want %s and at least 128 bits in hex", tok, PhantomPrefix)
		}
		if seen[tok] {
			t.Fatal("a token repeated")
		}
		seen[tok] = true
	}
	fi, err := os.Stat(tk.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(tk.Path())
	for tok := range seen {
		if strings.Contains(string(raw), strings.TrimPrefix(tok, PhantomPrefix)[:20]) {
			t.Fatal("the tokens file holds a token in the clear")
		}
	}
	for _, bad := range [][3]string{{"", "p", "anthropic"}, {"t", "", "anthropic"}, {"t", "p", "Bad Provider"}, {"t x", "p", "anthropic"}} {
		if _, err := tk.Mint(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("Mint%q took it", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	tk := newTokens(t)
	tok, err := tk.Mint("t1", "proj", "anthropic")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := tk.Mint("t2", "proj", "openai")
	b, err := tk.Check(tok)
	if err != nil || b != (Binding{Task: "t1", Project: "proj", Provider: "anthropic"}) {
		t.Fatalf("Check: %+v %v", b, err)
	}
	if b, _ := tk.Check(other); b.Task != "t2" || b.Provider != "openai" {
		t.Fatalf("Check(other): %+v", b)
	}
	flip := []byte(tok)
	flip[len(flip)-1] ^= 1
	for _, bad := range []string{"", PhantomPrefix, tok[:len(tok)-1], tok + "0", string(flip), strings.ToUpper(tok),
		"Bearer " + tok, "sk-ant-" + strings.TrimPrefix(tok, PhantomPrefix)} {
		if _, err := tk.Check(bad); !errors.Is(err, ErrUnknownToken) {
			t.Errorf("Check(%q) = %v, want ErrUnknownToken", bad, err)
		}
	}
	if _, err := newTokens(t).Check(tok); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("a token checked against an empty file: %v", err)
	}
}

// A revoked token never validates again: not after its task gets a new
// one, not through another process's view of the file.
func TestRevoke(t *testing.T) {
	tk := newTokens(t)
	old, _ := tk.Mint("t1", "proj", "anthropic")
	oldMistral, _ := tk.Mint("t1", "proj", "mistral")
	keep, _ := tk.Mint("t2", "proj", "anthropic")
	// Another process's instance, which has cached the file.
	other := OpenTokens(tk.Path())
	if _, err := other.Check(old); err != nil {
		t.Fatal(err)
	}
	n, err := tk.Revoke("t1")
	if err != nil || n != 2 {
		t.Fatalf("Revoke: %d %v", n, err)
	}
	for _, tok := range []string{old, oldMistral} {
		if _, err := other.Check(tok); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("revoked token still checks elsewhere: %v", err)
		}
	}
	// The task restarts: a new token works, the old one stays dead.
	fresh, _ := tk.Mint("t1", "proj", "anthropic")
	if _, err := other.Check(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Check(old); !errors.Is(err, ErrUnknownToken) {
		t.Fatal("the old token came back with the restart")
	}
	// Minting again for the same task and provider replaces the token.
	again, _ := tk.Mint("t1", "proj", "anthropic")
	if _, err := other.Check(fresh); !errors.Is(err, ErrUnknownToken) {
		t.Fatal("a second mint left the first token alive")
	}
	if _, err := other.Check(again); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Check(keep); err != nil {
		t.Fatalf("another task's token was revoked: %v", err)
	}
	if n, _ := tk.RevokeAll(); n != 2 {
		t.Fatalf("RevokeAll: %d", n)
	}
	if _, err := other.Check(keep); !errors.Is(err, ErrUnknownToken) {
		t.Fatal("RevokeAll left a token")
	}
	if n, err := tk.Revoke("nosuch"); n != 0 || err != nil {
		t.Fatalf("Revoke of nothing: %d %v", n, err)
	}
}

func TestListMasked(t *testing.T) {
	tk := newTokens(t)
	a, _ := tk.Mint("t1", "proj", "anthropic")
	if _, err := tk.Mint("t2", "proj", "openai"); err != nil {
		t.Fatal(err)
	}
	all, err := tk.List("")
	if err != nil || len(all) != 2 {
		t.Fatalf("%v %v", all, err)
	}
	one, _ := tk.List("t1")
	if len(one) != 1 || one[0].Provider != "anthropic" || !strings.HasPrefix(one[0].Masked, PhantomPrefix) {
		t.Fatalf("%+v", one)
	}
	if strings.Contains(fmt.Sprint(all), a[len(PhantomPrefix)+6:]) {
		t.Fatal("List shows a token whole")
	}
}

func TestTokensCorrupt(t *testing.T) {
	tk := newTokens(t)
	tok, _ := tk.Mint("t1", "proj", "anthropic")
	for _, content := range []string{"{", `{"version":2,"tokens":[]}`, `{"version":1,"tokens":[{"sha256":"zz"}]}`} {
		if err := os.WriteFile(tk.Path(), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var ce *store.CorruptError
		if _, err := tk.Check(tok); !errors.As(err, &ce) {
			t.Errorf("Check on %q: %v", content, err)
		}
		if _, err := tk.Mint("t3", "p", "openai"); !errors.As(err, &ce) {
			t.Errorf("Mint on %q: %v", content, err)
		}
		if got, _ := os.ReadFile(tk.Path()); string(got) != content {
			t.Errorf("a corrupt tokens file was rewritten")
		}
	}
}

func TestConcurrentMint(t *testing.T) {
	tk := newTokens(t)
	const n = 20
	toks := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if toks[i], err = OpenTokens(tk.Path()).Mint(fmt.Sprintf("t%d", i), "p", "anthropic"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, tok := range toks {
		if b, err := tk.Check(tok); err != nil || b.Task != fmt.Sprintf("t%d", i) {
			t.Fatalf("token %d: %+v %v", i, b, err)
		}
	}
}
