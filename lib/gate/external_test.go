package gate_test

// Review and promotion are tested on work a task pushed through the git
// endpoint, as it comes in a real gate. lib/gate/endpoint imports lib/gate,
// so these tests are in the external package gate_test, with lib/gate's
// exported surface only.

import (
	"net/http/httptest"
	"testing"

	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/endpoint"
	"github.com/terok-ai/terok-go/lib/gate/internal/gatetest"
)

const tokA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// testEnv is a private terok tree and a private HOME for the real git
// (gatetest.Env), making mirrors and serving their endpoints.
type testEnv struct{ *gatetest.Env }

func newTestEnv(t testing.TB) *testEnv { return &testEnv{gatetest.New(t)} }

// mirror describes project name with the given upstream.
func (te *testEnv) mirror(name, upstream string) *gate.Mirror {
	p, g := te.Config(upstream)
	m, err := gate.New(te.Paths, name, p, g, te.Getenv)
	if err != nil {
		te.T.Fatal(err)
	}
	return m
}

// serve runs m's endpoint on loopback with the given tokens and returns
// the base URL.
func (te *testEnv) serve(m *gate.Mirror, tokens ...endpoint.Token) (*endpoint.Endpoint, string) {
	e := &endpoint.Endpoint{Mirror: m, Tokens: tokens}
	srv := httptest.NewServer(e)
	te.T.Cleanup(srv.Close)
	return e, srv.URL
}

func readAudit(t *testing.T, m *gate.Mirror) []gate.AuditEntry {
	return gatetest.ReadJSONLines[gate.AuditEntry](t, m.AuditLog)
}
