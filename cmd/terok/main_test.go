package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run this test binary under every name the
// multicall binary answers to, so the scripts exercise the real dispatch
// in-process (and count for coverage).
func TestMain(m *testing.M) {
	cmds := map[string]func(){
		"terok": func() { os.Exit(Main(context.Background(), os.Args)) },
	}
	for _, c := range Commands {
		cmds[c.Name] = func() { os.Exit(Main(context.Background(), os.Args)) }
	}
	testscript.Main(m, cmds)
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			for k, d := range map[string]string{
				"TEROK_CONFIG_DIR": "config", "TEROK_STATE_DIR": "state",
				"TEROK_DATA_DIR": "data", "TEROK_RUNTIME_DIR": "run",
			} {
				e.Setenv(k, filepath.Join(e.WorkDir, d))
			}
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			e.Setenv("TEROK_NO_GUM", "1")
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Getuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status": cmdStatus,
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
