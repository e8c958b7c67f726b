package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuditOrderAndFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault", "audit.jsonl")
	a, err := OpenAudit(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := 0; i < n; i++ {
		a.Record(AuditEntry{Time: time.Unix(int64(i), 0).UTC(), Task: fmt.Sprintf("t%d", i%3), Method: "POST", Path: "/v1/messages", Status: 200, Outcome: OutcomeOK, BytesIn: int64(i)})
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Record(AuditEntry{Task: "after-close"}) // ignored, no panic
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	var got []AuditEntry
	if err := ReadAudit(context.Background(), path, "", false, func(e AuditEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d lines, want %d", len(got), n)
	}
	for i, e := range got {
		if e.BytesIn != int64(i) {
			t.Fatalf("line %d is entry %d: out of order", i, e.BytesIn)
		}
	}
	// The JSON names are the documented ones.
	raw, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(raw), "\n", 2)[0]), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "task", "method", "path", "status", "bytes_in", "bytes_out", "duration_ms", "outcome"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %s missing: %v", k, m)
		}
	}
	var one []AuditEntry
	if err := ReadAudit(context.Background(), path, "t1", false, func(e AuditEntry) error { one = append(one, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(one) != n/3 {
		t.Fatalf("filter: %d", len(one))
	}
}

// Two logs on one file (two wardens) interleave whole lines only.
func TestAuditTwoWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		a, err := OpenAudit(path)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				a.Record(AuditEntry{Task: fmt.Sprintf("w%d", w), Path: strings.Repeat("p", 300)})
			}
			if err := a.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 1000 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		var e AuditEntry
		if json.Unmarshal([]byte(l), &e) != nil {
			t.Fatalf("torn line %.60q", l)
		}
	}
}

func TestAuditFollow(t *testing.T) {
	defer func(d time.Duration) { auditPoll = d }(auditPoll)
	auditPoll = 10 * time.Millisecond
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan AuditEntry, 100)
	done := make(chan error)
	go func() {
		done <- ReadAudit(ctx, path, "t1", true, func(e AuditEntry) error { got <- e; return nil })
	}()
	expect := func(task, path string) {
		t.Helper()
		select {
		case e := <-got:
			if e.Task != task || e.Path != path {
				t.Fatalf("got %+v, want %s %s", e, task, path)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no line for %s", path)
		}
	}
	// The log does not exist yet; then it does.
	time.Sleep(30 * time.Millisecond)
	f, _ := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	fmt.Fprintln(f, `{"task":"t1","path":"/a"}`)
	fmt.Fprintln(f, `{"task":"t2","path":"/other-task"}`)
	fmt.Fprintln(f, `not json`)
	expect("t1", "/a")
	// A line written in two parts is read once whole.
	if _, err := f.WriteString(`{"task":"t1",`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond)
	if _, err := f.WriteString(`"path":"/b"}` + "\n"); err != nil {
		t.Fatal(err)
	}
	expect("t1", "/b")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Replaced (rotated): read from the new file's start.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"task":"t1","path":"/c"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect("t1", "/c")
	// Truncated (copytruncate) and written again.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(path, []byte(`{"task":"t1","path":"/d"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect("t1", "/d")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		t.Fatalf("an extra line: %+v", e)
	default:
	}
}

func TestAuditMissingLog(t *testing.T) {
	n := 0
	err := ReadAudit(context.Background(), filepath.Join(t.TempDir(), "none.jsonl"), "", false, func(AuditEntry) error { n++; return nil })
	if err != nil || n != 0 {
		t.Fatalf("%d %v", n, err)
	}
}

// Through the proxy, the log holds the request's facts and nothing of its
// secrets: not the real key, not the phantom, not the body or the query.
func TestAuditHoldsNoSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a, _ := OpenAudit(path)
	rg := newRig(t, nil, func(c *ProxyConfig) { c.Audit = tee{c.Audit, a} })
	rg.do(t, "POST", "/v1/messages?key=querysecret", map[string]string{"x-api-key": rg.tok["anthropic"]}, `{"prompt":"bodysecret"}`)
	rg.do(t, "POST", "/v1/messages", map[string]string{"x-api-key": rg.other}, `{}`)
	rg.proxy.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, s := range []string{realKey, PhantomPrefix, "querysecret", "bodysecret"} {
		if strings.Contains(string(raw), s) {
			t.Fatalf("the audit log holds %q:\n%s", s, raw)
		}
	}
	var es []AuditEntry
	if err := ReadAudit(context.Background(), path, "taskA", false, func(e AuditEntry) error { es = append(es, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Outcome != OutcomeOK || es[0].Path != "/v1/messages" || es[1].Outcome != OutcomeOtherTask || es[0].DurationMS <= 0 {
		t.Fatalf("%+v", es)
	}
}

type tee []AuditSink

func (t tee) Record(e AuditEntry) {
	for _, s := range t {
		s.Record(e)
	}
}
