package services

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// The warden reads the files lib/task writes, where lib/task writes them.
func TestRunnerReadsWhatTaskWrites(t *testing.T) {
	dir := t.TempDir()
	paths := config.Paths{Config: dir + "/config", State: dir + "/state", Data: dir + "/data", Runtime: dir + "/run"}
	tr := &task.Runner{Paths: paths}
	rec := task.Record{Project: "p1", Agent: "command", Vault: "anthropic", Created: time.Now().UTC()}
	if err := os.MkdirAll(tr.Store().Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := tr.Store().Create(&rec); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Paths: paths}
	got, err := r.Store().Load(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != rec.ID || got.Project != "p1" || got.Vault != "anthropic" {
		t.Errorf("the warden read %+v of %+v", got, rec)
	}
	if _, err := r.Store().Load("zzzzzzzz"); err == nil || !strings.Contains(err.Error(), "no such task") {
		t.Errorf("a missing record: %v", err)
	}
	if r.ShieldPath(rec.ID) != tr.ShieldPath(rec.ID) || r.ShieldAuditLog(rec.ID) != tr.ShieldAuditLog(rec.ID) {
		t.Errorf("shield paths differ: %s %s, lib/task %s %s", r.ShieldPath(rec.ID), r.ShieldAuditLog(rec.ID), tr.ShieldPath(rec.ID), tr.ShieldAuditLog(rec.ID))
	}
	if err := os.MkdirAll(filepath.Dir(paths.TaskSecret(rec.ID)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths.TaskSecret(rec.ID), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := r.Token(rec.ID)
	want, werr := tr.Token(rec.ID)
	if err != nil || werr != nil || tok != "s3cret" || tok != want {
		t.Errorf("token %q (%v), lib/task's %q (%v)", tok, err, want, werr)
	}
}

// A bad command line is exit 2 with a message, before anything is read.
func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--pid", "1"}, {"abcd2345"}, {"abcd2345", "--pid", "0"},
		{"abcd2345", "--pid", "1", "extra"}, {"ABCD2345", "--pid", "1"}, {"../../x", "--pid", "1"}, {"abcd2345", "--bogus"}} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		if code != 2 || errb.Len() == 0 || out.Len() != 0 {
			t.Errorf("Main(%q) = %d, stdout %q, stderr %q; want 2 and a message", args, code, out.String(), errb.String())
		}
	}
}

// The warden's binary links no container engine client, no command line
// parser and none of lib/task or lib/session: what every task's warden
// would otherwise hold resident.
func TestWardenBinaryIsLean(t *testing.T) {
	goTool := testenv.Tool(t, "go", "golang")
	out, err := exec.Command(goTool, "list", "-tags", "remote containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper",
		"-deps", "../../../cmd/terok-warden").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, banned := range []string{"/lib/engine", "/lib/image", "/lib/task", "/lib/session", "/lib/cli",
			"github.com/alecthomas/kong", "github.com/containers/podman", "go.podman.io/image", "google.golang.org/grpc"} {
			if d == banned || strings.HasSuffix(d, banned) || strings.HasPrefix(d, banned+"/") || d == "github.com/terok-ai/terok-go"+banned {
				t.Errorf("cmd/terok-warden depends on %s", d)
			}
		}
	}
}

// The warden's package inits allocate little: what they allocate stays in
// every idle warden's heap for the task's life (docs/decisions.md "Under
// 12 MB"). lib/config's regular expressions, compiled at init, were 0.3 MB
// of the 0.5 MB; now about 0.2 MB is left, most of it the shield's empty
// ruleset and libraries' tables.
func TestWardenInitsAreLight(t *testing.T) {
	const limit = 320 << 10
	goTool := testenv.Tool(t, "go", "golang")
	bin := filepath.Join(t.TempDir(), "terok-warden")
	build := exec.Command(goTool, "build", "-tags", "remote containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper",
		"-o", bin, "../../../cmd/terok-warden")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-h")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, _ := cmd.CombinedOutput() // -h exits 2; the trace is what counts
	var total, inits int
	var top string
	var topBytes int
	for _, l := range strings.Split(string(out), "\n") {
		// init PKG @T ms, C ms clock, N bytes, M allocs
		f := strings.Fields(l)
		if len(f) < 10 || f[0] != "init" || f[len(f)-3] != "bytes," {
			continue
		}
		n, err := strconv.Atoi(f[len(f)-4])
		if err != nil {
			t.Fatalf("an init trace line: %q", l)
		}
		inits++
		total += n
		if n > topBytes {
			top, topBytes = f[1], n
		}
	}
	if inits < 50 {
		t.Fatalf("only %d init trace lines in:\n%s", inits, out)
	}
	if total > limit {
		t.Errorf("the warden's %d inits allocate %d bytes, more than %d (the largest: %s, %d bytes)", inits, total, limit, top, topBytes)
	}
}
