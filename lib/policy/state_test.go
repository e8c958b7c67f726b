package policy

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
)

// The providers' hosts are denied but for those lifted; the state keeps
// them apart from the deny list, and they are denied all the same: deny
// beats allow, also across a save and a load.
func TestDenyProviders(t *testing.T) {
	p := config.DefaultProject()
	p.Shield.Allow = []string{"api.anthropic.com", "*.openai.com"}
	allowAPI, err := For(paths(t), config.DefaultGlobal(), p, Host{})
	if err != nil {
		t.Fatal(err)
	}
	st := State{Allow: allowAPI.Allow, Deny: allowAPI.Deny, Posture: PostureUp}
	hosts := map[string][]string{
		"openai":    {"api.openai.com", "chatgpt.com"},
		"anthropic": {"api.anthropic.com", "claude.ai"},
		"mistral":   {"api.mistral.ai"},
		"shared":    {"claude.ai"},
	}
	if err := st.DenyProviders(hosts, []string{"mistral", "nobody"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range st.VaultDeny {
		got = append(got, e.From+" "+e.Text)
	}
	want := []string{"vault: anthropic api.anthropic.com", "vault: anthropic claude.ai", "vault: openai api.openai.com", "vault: openai chatgpt.com"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("vault deny %q, want %q", got, want)
	}
	if !reflect.DeepEqual(st.VaultDirect, []string{"mistral"}) || !reflect.DeepEqual(st.VaultDenied(), []string{"anthropic", "openai"}) {
		t.Fatalf("direct %q, denied %q", st.VaultDirect, st.VaultDenied())
	}
	if len(st.Deny) != 0 {
		t.Fatalf("the project's deny list changed: %+v", st.Deny)
	}
	path := filepath.Join(t.TempDir(), "s.json")
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []State{st, back} {
		pol := s.Policy()
		for name, want := range map[string]bool{
			"api.anthropic.com": false, "claude.ai": false, "api.openai.com": false, "files.openai.com": true, "api.mistral.ai": false,
		} {
			if pol.Allowed(name) != want {
				t.Errorf("%s allowed: %v, want %v", name, !want, want)
			}
		}
	}
	if err := st.DenyProviders(map[string][]string{"bad": {"http://x"}}, nil); err == nil {
		t.Fatal("a host that is no target was taken")
	}
}
