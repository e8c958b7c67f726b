package gate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	tokA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestPushPolicyWithRealGit(t *testing.T) {
	te := newTestEnv(t)
	up := te.upstream("up")
	m := te.mirror("demo", up)
	if _, err := m.Sync(context.Background(), false, false); err != nil {
		t.Fatal(err)
	}
	_, base := te.serve(m, Token{tokA, "task-a"}, Token{tokB, "task-b"})
	wa := filepath.Join(te.root, "wa")
	te.git(te.root, "clone", "-q", url(base, "demo", tokA), wa)

	// A new branch is the task's.
	te.git(wa, "checkout", "-q", "-b", "feature")
	te.commit(wa, "a.txt", "a\n", "add a")
	out := te.git(wa, "push", "origin", "feature")
	t.Log(out)
	owners, _ := records{m.StateDir}.owners()
	if owners["refs/heads/feature"].Task != "task-a" {
		t.Fatalf("owners %v", owners)
	}

	// The default branch is protected.
	te.git(wa, "checkout", "-q", "main")
	te.commit(wa, "b.txt", "b\n", "on main")
	out, err := te.gitMay(wa, "push", "origin", "main")
	if err == nil || !strings.Contains(out, "protected branch") {
		t.Fatalf("push to main: %v\n%s", err, out)
	}
	t.Log(out)
}

func readAudit(t *testing.T, m *Mirror) []AuditEntry {
	data, err := os.ReadFile(m.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	var out []AuditEntry
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e AuditEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
