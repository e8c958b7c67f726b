package gate

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate/internal/gatetest"
)

// testEnv is a private terok tree and a private HOME for the real git
// (gatetest.Env), making this package's mirrors.
type testEnv struct{ *gatetest.Env }

func newTestEnv(t testing.TB) *testEnv { return &testEnv{gatetest.New(t)} }

// mirror describes project name with the given upstream.
func (te *testEnv) mirror(name, upstream string, edit ...func(*config.Project, *config.Global)) *Mirror {
	p, g := te.Config(upstream, edit...)
	m, err := New(te.Paths, name, p, g, te.Getenv)
	if err != nil {
		te.T.Fatal(err)
	}
	return m
}

func readAudit(t *testing.T, m *Mirror) []AuditEntry {
	return gatetest.ReadJSONLines[AuditEntry](t, m.AuditLog)
}
