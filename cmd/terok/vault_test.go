package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	vaultcmd "github.com/terok-ai/terok-go/cmd/terok-vault"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/hostcheck"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/vault"
)

// scriptPaths are the terok paths of a script's environment.
func scriptPaths(ts *testscript.TestScript) config.Paths {
	p, err := config.ResolvePaths(ts.Getenv, os.Getuid())
	ts.Check(err)
	return p
}

// cmdVaultMint mints a phantom token as a task's warden does, and keeps it
// in the script's environment variable VAR (so that a script can check it
// is never printed):
//
//	vaultmint TASK PROJECT PROVIDER VAR
func cmdVaultMint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: vaultmint TASK PROJECT PROVIDER VAR")
	}
	tok, err := vault.OpenTokens(scriptPaths(ts).VaultTokens()).Mint(args[0], args[1], args[2])
	ts.Check(err)
	ts.Setenv(args[3], tok)
}

// cmdVaultCheck checks the token in $VAR as a proxy does: it must be live
// (negated: revoked, or never minted).
//
//	vaultcheck VAR
func cmdVaultCheck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: vaultcheck VAR")
	}
	_, err := vault.OpenTokens(scriptPaths(ts).VaultTokens()).Check(ts.Getenv(args[0]))
	if neg != (err != nil) {
		ts.Fatalf("vaultcheck %s: %v (negated: %v)", args[0], err, neg)
	}
}

// cmdVaultAudit appends N requests of a task to the vault's audit log, as
// a task's proxy records them, a second apart from 2026-01-02T03:04:05Z:
//
//	vaultaudit TASK PROJECT PROVIDER N
func cmdVaultAudit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: vaultaudit TASK PROJECT PROVIDER N")
	}
	n, err := strconv.Atoi(args[3])
	ts.Check(err)
	log, err := vault.OpenAudit(scriptPaths(ts).VaultAudit())
	ts.Check(err)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		log.Record(vault.AuditEntry{Time: start.Add(time.Duration(i) * time.Second), Task: args[0], Project: args[1],
			Provider: args[2], Method: "POST", Path: "/v1/messages", Status: 200, BytesIn: int64(100 + i),
			BytesOut: 2000, DurationMS: 12.5, Outcome: vault.OutcomeOK})
	}
	ts.Check(log.Close())
}

// haveKeyring is the [keyring] condition: the kernel keyring takes a key
// from this process (missing in CI is an error, lib/testenv's rule).
func haveKeyring() (bool, error) {
	k := vault.Keyring{Desc: "terok-script-keyring-probe"}
	err := k.Put([]byte("x"), 5*time.Second)
	_ = k.Clear() // the probe expires in seconds anyway
	if err != nil && testenv.InCI() {
		return false, fmt.Errorf("prerequisite missing in CI: the kernel keyring: %v", err)
	}
	return err == nil, nil
}

// vaultTree is a private terok tree for the vault's Go tests, and a link
// that makes this test binary run as terok-vault.
type vaultTree struct {
	root, exe string
	env       []string
}

func newVaultTree(t *testing.T) *vaultTree {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	v := &vaultTree{root: root, exe: filepath.Join(root, "terok-vault")}
	if err := os.Symlink(exe, v.exe); err != nil {
		t.Fatal(err)
	}
	v.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(root, "home"), "TEROK_NO_GUM=1"}
	for _, k := range []string{"CONFIG", "STATE", "DATA", "RUNTIME", "CACHE"} {
		v.env = append(v.env, "TEROK_"+k+"_DIR="+filepath.Join(root, strings.ToLower(k)))
	}
	if err := os.MkdirAll(filepath.Join(root, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	return v
}

// run runs terok-vault ARGS with stdin (nil: none) and returns its
// output and exit code.
func (v *vaultTree) run(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(v.exe, args...)
	cmd.Env, cmd.Stdin = v.env, stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var xe *exec.ExitError
	if err != nil && !errors.As(err, &xe) {
		t.Fatalf("terok-vault %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// init makes the vault and returns its recovery passphrase.
func (v *vaultTree) init(t *testing.T) string {
	t.Helper()
	out, errs, code := v.run(t, strings.NewReader("correct horse battery\n"), "init", "--passphrase-stdin")
	var got struct{ Recovery string }
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Recovery == "" {
		t.Fatalf("init: exit %d\n%s%s", code, out, errs)
	}
	return got.Recovery
}

func (v *vaultTree) config(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(v.root, "config", "config.toml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVaultLockedExitsAtOnce: a locked vault, no terminal, no
// passphrase_command, nothing in the keyring: every verb that needs the key
// exits 3 within a second, with the hint, whatever is on stdin.
func TestVaultLockedExitsAtOnce(t *testing.T) {
	v := newVaultTree(t)
	v.init(t)
	// stdin: a key line on a pipe that is never closed, as a script that
	// keeps writing would leave it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	if _, err := io.WriteString(w, "sk-ant-SECRET-key\n"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ls"}, {"rm", "anthropic"}, {"set", "anthropic"}, {"import", "anthropic", "-"}} {
		var stdin io.Reader = r
		if args[0] == "import" {
			stdin = strings.NewReader(`{"primaryApiKey": "sk-ant-SECRET-key"}`)
		}
		start := time.Now()
		out, errs, code := v.run(t, stdin, args...)
		took := time.Since(start)
		if code != 3 || out != "" || !strings.Contains(errs, "terok-vault: the vault is locked") ||
			!strings.Contains(errs, "hint: run 'terok-vault unlock'") || strings.Count(errs, "\n") != 2 {
			t.Errorf("%s: exit %d\nstdout %q\nstderr %q", args, code, out, errs)
		}
		if took > time.Second {
			t.Errorf("%s took %s to say the vault is locked", args, took)
		}
	}
}

// TestVaultConcurrentSet: 20 terok-vault processes storing 20 providers'
// keys at once lose none. The vault opens with the recovery passphrase
// (scrypt's work factor 12, not the passphrase's 18: twenty of those at
// once would take seconds and 5 GiB here), which also shows that it opens
// the vault wherever a passphrase is asked for.
func TestVaultConcurrentSet(t *testing.T) {
	v := newVaultTree(t)
	recovery := v.init(t)
	recFile := filepath.Join(v.root, "recovery")
	if err := os.WriteFile(recFile, []byte(recovery+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("[vault]\npassphrase_command = [\"cat\", %q]\n", recFile)
	var providers []string
	for i := 1; i <= 20; i++ {
		p := fmt.Sprintf("p%02d", i)
		providers = append(providers, p)
		cfg += fmt.Sprintf("\n[vault.providers.%s]\nupstream = \"http://127.0.0.1:9/%s\"\napi_key_header = \"x-api-key\"\n", p, p)
	}
	v.config(t, cfg)

	type result struct {
		p, out, errs string
		code         int
	}
	results := make(chan result, len(providers))
	for _, p := range providers {
		go func() {
			out, errs, code := v.run(t, strings.NewReader("key-"+p+"-SECRET\n"), "set", p)
			results <- result{p, out, errs, code}
		}()
	}
	for range providers {
		r := <-results
		if r.code != 0 || !strings.Contains(r.out, `"provider":"`+r.p+`"`) || strings.Contains(r.out+r.errs, "SECRET") {
			t.Errorf("set %s: exit %d\n%s%s", r.p, r.code, r.out, r.errs)
		}
	}

	out, errs, code := v.run(t, nil, "ls")
	if code != 0 || strings.Contains(out, "SECRET") {
		t.Fatalf("ls: exit %d\n%s%s", code, out, errs)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c struct{ Provider string }
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("ls line %q: %v", line, err)
		}
		listed = append(listed, c.Provider)
	}
	if !slices.Equal(listed, providers) {
		t.Fatalf("ls after 20 concurrent sets: %v", listed)
	}
	// And each holds its own key.
	store, err := vault.Open(t.Context(), filepath.Join(v.root, "data", "vault"), vault.KeySource{Command: []string{"cat", recFile}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range providers {
		if c, err := store.Get(p); err != nil || c.APIKey != "key-"+p+"-SECRET" {
			t.Errorf("%s: %v, %v", p, c, err)
		}
	}
}

// TestDoctorVault: `terok doctor --only vault` on a host without a vault
// is ok while no configured agent needs one, and a warning naming the
// agents once one does; it never asks for anything.
func TestDoctorVault(t *testing.T) {
	env, out, _ := doctorEnv(t, false, nil)
	rs, code := runDoctor(t, env, out, "--only", "vault")
	if len(rs) != 1 || rs[0].Check != "vault" || rs[0].Status != hostcheck.OK || code != 0 {
		t.Fatalf("no vault, the command agent only: exit %d, %+v", code, rs)
	}
	cfg := filepath.Join(env.Getenv("TEROK_CONFIG_DIR"), "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("[image]\nagents = [\"command\", \"claude\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	rs, code = runDoctor(t, env, out, "--only", "vault")
	if len(rs) != 1 || rs[0].Status != hostcheck.Warn || !strings.Contains(rs[0].Detail, "claude need") ||
		!strings.Contains(rs[0].Fix, "terok-vault init") || code != 1 {
		t.Fatalf("no vault, claude configured: exit %d, %+v", code, rs)
	}
}

// TestVaultOnATerminal: init asks the passphrase twice and set asks the
// vault's passphrase, then the key, with gum's password input on a real
// terminal; neither the passphrase nor the key ever shows on the screen.
func TestVaultOnATerminal(t *testing.T) {
	bin, err := exec.LookPath("terok-vault") // testscript put this binary on PATH
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	env := []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "HOME=" + work, "TERM=xterm-256color",
		"TEROK_CONFIG_DIR=" + work + "/config", "TEROK_STATE_DIR=" + work + "/state",
		"TEROK_DATA_DIR=" + work + "/data", "TEROK_RUNTIME_DIR=" + work + "/run"}
	const pass, key = "terminal passphrase", "sk-ant-SECRET-typed"
	secretShown := func(s *tmuxSession) {
		t.Helper()
		if screen := s.tmux("capture-pane", "-p"); strings.Contains(screen, pass) || strings.Contains(screen, "SECRET") {
			t.Fatalf("a secret is on the screen:\n%s", screen)
		}
	}

	// Two different answers create nothing.
	done := filepath.Join(work, "init1.done")
	s := newTmux(t, env, "terok-vault init; echo $? > "+done+"; sleep 60")
	s.waitFor("New vault passphrase")
	s.send(pass, "Enter")
	s.waitFor("The same passphrase again")
	s.send(pass+"x", "Enter")
	if code := waitFile(t, done); code != "1" {
		t.Fatalf("init with two different passphrases exited %s", code)
	}
	s.waitFor("the two passphrases differ")
	if _, err := os.Stat(filepath.Join(work, "data/vault/identity.json")); !os.IsNotExist(err) {
		t.Fatalf("a vault was made: %v", err)
	}

	done = filepath.Join(work, "init2.done")
	s = newTmux(t, env, "terok-vault init; echo $? > "+done+"; sleep 60")
	s.waitFor("New vault passphrase")
	s.send(pass, "Enter")
	s.waitFor("The same passphrase again")
	s.send(pass, "Enter")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("init exited %s; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	s.waitFor("recovery passphrase")
	secretShown(s)

	done = filepath.Join(work, "set.done")
	s = newTmux(t, env, "terok-vault set anthropic; echo $? > "+done+"; sleep 60")
	s.waitFor("Vault passphrase")
	s.send(pass, "Enter")
	s.waitFor("API key for anthropic")
	s.send(key, "Enter")
	if code := waitFile(t, done); code != "0" {
		t.Fatalf("set exited %s; screen:\n%s", code, s.tmux("capture-pane", "-p"))
	}
	s.waitFor("stored an API key for anthropic (used by claude, opencode)")
	secretShown(s)
	st, err := vault.Open(t.Context(), filepath.Join(work, "data/vault"),
		vault.KeySource{Prompt: func(context.Context) (string, error) { return pass, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := st.Get("anthropic"); err != nil || c.APIKey != key {
		t.Fatalf("stored: %v, %v", c, err)
	}
}

// TestVaultAuditFollow: audit -f prints the requests a proxy records as
// they come, only the task's asked for, until Ctrl-C, which exits 130. It
// runs in-process: the test binary's commands do not take signals as the
// real binary does, so Ctrl-C is the context's cancellation with the
// signal as its cause, as cli.SignalContext makes it.
func TestVaultAuditFollow(t *testing.T) {
	v := newVaultTree(t)
	logPath := filepath.Join(v.root, "state", "audit", "vault.jsonl")
	log, err := vault.OpenAudit(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	entry := func(task, path string) vault.AuditEntry {
		return vault.AuditEntry{Time: time.Now().UTC(), Task: task, Project: "web", Provider: "anthropic",
			Method: "POST", Path: path, Status: 200, Outcome: vault.OutcomeOK}
	}
	log.Record(entry("k3x9m2pq", "/v1/before"))

	vars := map[string]string{}
	for _, kv := range v.env {
		k, val, _ := strings.Cut(kv, "=")
		vars[k] = val
	}
	ctx, interrupt := context.WithCancelCause(t.Context())
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	env := &cli.Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errb,
		Getenv: func(k string) string { return vars[k] }}
	code := make(chan int, 1)
	go func() {
		code <- cli.Run(vaultcmd.Command, []string{"audit", "-f", "k3x9m2pq"}, env)
		_ = pw.Close()
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("audit -f printed nothing in 10 s; stderr %q", errb.String())
		}
		return ""
	}
	if l := next(); !strings.Contains(l, `"path":"/v1/before"`) {
		t.Fatalf("first line %q", l)
	}
	log.Record(entry("abcd2345", "/v1/other-task"))
	log.Record(entry("k3x9m2pq", "/v1/after"))
	if l := next(); !strings.Contains(l, `"task":"k3x9m2pq"`) || !strings.Contains(l, `"path":"/v1/after"`) {
		t.Fatalf("followed line %q (another task's must not show)", l)
	}
	interrupt(cli.Signal{Sig: syscall.SIGINT})
	for l := range lines {
		t.Errorf("after Ctrl-C: %q", l)
	}
	if c := <-code; c != 130 || errb.Len() != 0 {
		t.Fatalf("audit -f after Ctrl-C: exit %d, stderr %q", c, errb.String())
	}
}
