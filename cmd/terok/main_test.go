package main

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/endpoint"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/testenv"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/services"
)

// TestMain lets testscript run this test binary under every name the
// multicall binary answers to, so the scripts exercise the real dispatch
// in-process (and count for coverage).
func TestMain(m *testing.M) {
	// As the real main: Ctrl-C and SIGTERM cancel the command's context
	// (a server the warden started, `terok task web`, tells its pages the
	// serving is over when the warden ends it), they do not kill it.
	run := func() {
		ctx, stop := cli.SignalContext(context.Background())
		code := Main(ctx, os.Args)
		stop()
		os.Exit(code)
	}
	cmds := map[string]func(){"terok": run}
	for _, c := range Commands {
		cmds[c.Name] = run
	}
	// The tasks' wardens run as terok-warden, beside terok-task, as
	// installed (lib/session.wardenExe).
	cmds[warden.BinaryName] = func() { os.Exit(services.Command()) }
	testscript.Main(m, cmds)
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			for k, d := range map[string]string{
				"TEROK_CONFIG_DIR": "config", "TEROK_STATE_DIR": "state",
				"TEROK_DATA_DIR": "data", "TEROK_RUNTIME_DIR": "run", "TEROK_CACHE_DIR": "cache",
			} {
				e.Setenv(k, filepath.Join(e.WorkDir, d))
			}
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("TEROK_NO_GUM", "1")
			// The real git, as a person and an agent use it, alone.
			for k, v := range map[string]string{
				"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
				"GIT_AUTHOR_NAME": "Agent", "GIT_AUTHOR_EMAIL": "agent@example.com",
				"GIT_COMMITTER_NAME": "Agent", "GIT_COMMITTER_EMAIL": "agent@example.com",
				"GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
			} {
				e.Setenv(k, v)
			}
			// The Podman service the test run started, if any (scripts/test).
			e.Setenv("CONTAINER_HOST", os.Getenv("CONTAINER_HOST"))
			e.Setenv("CI", os.Getenv("CI"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Getuid() == 0, nil
			case "git":
				_, err := exec.LookPath("git")
				if err != nil && testenv.InCI() {
					return false, fmt.Errorf("git is needed under CI: %v", err)
				}
				return err == nil, nil
			case "podman":
				return havePodman()
			case "keyring":
				return haveKeyring()
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":     cmdStatus,
			"gatepush":   cmdGatePush,
			"vaultmint":  cmdVaultMint,
			"vaultcheck": cmdVaultCheck,
			"vaultaudit": cmdVaultAudit,
		},
	})
}

// cmdStatus runs a command and checks its exit code:
//
//	status 4 terok-project show nope
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var xe *exec.ExitError
	switch {
	case errors.As(err, &xe):
		got = xe.ExitCode()
	case err != nil:
		ts.Fatalf("status: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// cmdGatePush pushes with the real git through the gate's endpoint, as a
// task holding its own token would, on a loopback port for this one push:
//
//	gatepush PROJECT TASK DIR REFSPEC...
func cmdGatePush(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 {
		ts.Fatalf("usage: gatepush PROJECT TASK DIR REFSPEC...")
	}
	paths, err := config.ResolvePaths(ts.Getenv, os.Getuid())
	ts.Check(err)
	st := project.Store{Paths: paths}
	p, err := st.Load(args[0])
	ts.Check(err)
	g, err := config.LoadGlobal(paths.ConfigFile())
	ts.Check(err)
	m, err := gate.New(paths, args[0], p, g, ts.Getenv)
	ts.Check(err)
	token := "token-of-" + args[1] + "-0123456789"
	srv := httptest.NewServer(&endpoint.Endpoint{Mirror: m, Tokens: []endpoint.Token{{Secret: token, Task: args[1]}}})
	defer srv.Close()
	url := strings.Replace(srv.URL, "http://", "http://"+token+":@", 1) + "/" + args[0] + ".git"
	err = ts.Exec("git", append([]string{"-C", ts.MkAbs(args[2]), "push", "--porcelain", url}, args[3:]...)...)
	if neg != (err != nil) {
		ts.Fatalf("gatepush: %v (negated: %v)", err, neg)
	}
}

// havePodman is the [podman] condition: podman and terok's local Debian
// base image are there. Missing in CI is an error, which fails the script
// instead of skipping it (lib/testenv's rule).
func havePodman() (bool, error) {
	missing := ""
	if _, err := exec.LookPath("podman"); err != nil {
		missing = "podman is not installed"
	} else if exec.Command("podman", "image", "exists", "localhost/terok/debian:bookworm").Run() != nil {
		missing = "no localhost/terok/debian:bookworm; run scripts/setup-host and terok-image base"
	}
	if missing != "" && testenv.InCI() {
		return false, fmt.Errorf("prerequisite missing in CI: %s", missing)
	}
	return missing == "", nil
}
