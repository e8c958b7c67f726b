package endpoint

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/internal/gatetest"
	"github.com/terok-ai/terok-go/lib/store"
)

// testEnv is a private terok tree and a private HOME for the real git
// (gatetest.Env), making mirrors and serving their endpoints.
type testEnv struct{ *gatetest.Env }

func newTestEnv(t testing.TB) *testEnv { return &testEnv{gatetest.New(t)} }

// mirror describes project name with the given upstream.
func (te *testEnv) mirror(name, upstream string, edit ...func(*config.Project, *config.Global)) *gate.Mirror {
	p, g := te.Config(upstream, edit...)
	m, err := gate.New(te.Paths, name, p, g, te.Getenv)
	if err != nil {
		te.T.Fatal(err)
	}
	return m
}

// serve runs m's endpoint on loopback with the given tokens and returns
// the base URL.
func (te *testEnv) serve(m *gate.Mirror, tokens ...Token) (*Endpoint, string) {
	e := &Endpoint{Mirror: m, Tokens: tokens}
	srv := httptest.NewServer(e)
	te.T.Cleanup(srv.Close)
	return e, srv.URL
}

// terokRefs lists the refs under refs/terok/ in m, read by the real git.
func (te *testEnv) terokRefs(m *gate.Mirror) []string {
	out := te.Git(te.Root, "--git-dir="+m.Dir, "for-each-ref", "--format=%(refname)", "refs/terok/")
	return strings.Fields(out)
}

// readOwners reads the gate's record of which task created which ref.
func readOwners(t *testing.T, m *gate.Mirror) gate.Owners {
	var o gate.Owners
	if err := store.ReadJSON(filepath.Join(m.StateDir, "owners.json"), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func readAudit(t *testing.T, m *gate.Mirror) []gate.AuditEntry {
	return gatetest.ReadJSONLines[gate.AuditEntry](t, m.AuditLog)
}
