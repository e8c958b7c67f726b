package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// unitCommand reads a generated service's ExecStart (its words, unquoted)
// and Environment= assignments.
func unitCommand(t *testing.T, path string) (args, env []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unq := func(s string) []string {
		var words []string
		for _, w := range strings.Split(s, `" "`) {
			w = strings.Trim(w, `"`)
			words = append(words, strings.NewReplacer(`\"`, `"`, `\\`, `\`, "%%", "%", "$$", "$").Replace(w))
		}
		return words
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			args = unq(v)
		}
		if v, ok := strings.CutPrefix(l, "Environment="); ok {
			env = append(env, unq(v)...)
		}
	}
	if len(args) == 0 {
		t.Fatalf("no ExecStart in %s", path)
	}
	return args, env
}

// cronEnviron is the environment cron gives a job.
func cronEnviron(t *testing.T) []string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"HOME=" + u.HomeDir, "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=" + u.Username}
}

// runBare runs a command line in exactly the environment given (env -i).
func runBare(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var xe *exec.ExitError
	switch {
	case errors.As(err, &xe):
		return out.String(), errb.String(), xe.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// A scheduled run, as its systemd service and its crontab line run it
// under cron's bare environment: a real task of the command agent runs to
// completion and the run exits with the agent's code, the record and
// schedule show say so, --keep 1 removes the older task after the second
// run, an overlapping run is refused (exit 75, naming the holder), and
// bad input leaves nothing on disk.
func TestScheduleUnattended(t *testing.T) {
	e := newTaskEnv(t)
	e.removeAllTasks()
	units := t.TempDir()
	e.env = append(e.env, "TEROK_UNIT_DIR="+units)
	state, runtime := e.getenv("TEROK_STATE_DIR"), e.getenv("TEROK_RUNTIME_DIR")
	// Without CONTAINER_HOST the run starts terok's own Podman service; it
	// is stopped when the test ends.
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(runtime, "podman", "podman.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	e.must("terok-project", "new", "ts", "--agents", "command")

	// Bad input: one line, a non-zero exit, nothing written.
	for _, args := range [][]string{
		{"nightly", "ts", "true", "--on-calendar", "Sat..Tue"},
		{"nightly", "nope", "true", "--on-calendar", "daily"},
		{"nightly", "ts", "true", "--on-calendar", "daily", "--agent", "claude"},
		{"nightly", "ts", "true", "--on-calendar", "daily", "--timeout", "soon"},
		{"Nightly", "ts", "true", "--on-calendar", "daily"},
		{"nightly", "ts", "true", "--on-calendar", "*:*:30", "--cron"},
	} {
		out, errs, code := e.run("", append([]string{"terok-task", "schedule", "add"}, args...)...)
		if code == 0 || out != "" || strings.Count(strings.TrimSuffix(errs, "\n"), "\n") > 1 {
			t.Errorf("add %v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	if ents, _ := os.ReadDir(units); len(ents) > 0 {
		t.Fatalf("bad input left units: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(e.getenv("TEROK_CONFIG_DIR"), "schedules", "nightly.toml")); err == nil {
		t.Fatal("bad input left a definition")
	}

	e.must("terok-image", "build", "ts")
	out, errs, code := e.run("", "terok-task", "schedule", "add", "nightly", "ts", "echo scheduled-output; exit 3",
		"--on-calendar", "Mon..Fri 02:30", "--agent", "command", "--keep", "1")
	if code != 0 || !strings.Contains(errs, "is not active") || !strings.Contains(errs, "30 2 * * 1-5 ") {
		t.Fatalf("add: exit %d\n%s%s", code, out, errs)
	}
	service := filepath.Join(units, "terok-schedule-nightly.service")
	timer := filepath.Join(units, "terok-schedule-nightly.timer")
	if tool, err := exec.LookPath("systemd-analyze"); err == nil || testenv.InCI() {
		testenv.Need(t, err == nil, "systemd-analyze is not installed (apt-get install -y systemd)")
		if out, err := exec.Command(tool, "verify", service, timer).CombinedOutput(); err != nil || len(out) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	// The service's command line, with its Environment= and cron's.
	args, unitEnv := unitCommand(t, service)
	if !filepath.IsAbs(args[0]) {
		t.Fatalf("ExecStart is not absolute: %v", args)
	}
	env := append(cronEnviron(t), unitEnv...)
	out, errs, code = runBare(t, env, args...)
	if code != 3 || !strings.Contains(errs, "scheduled-output") {
		t.Fatalf("the service's command exited %d, want 3 (the agent's):\n%s%s", code, out, errs)
	}
	var first struct {
		Type, Schedule, ID string
		ExitCode           int `json:"exit_code"`
	}
	decodeJSON(t, out, &first)
	if first.Type != "exit" || first.Schedule != "nightly" || first.ExitCode != 3 || first.ID == "" {
		t.Fatalf("run's line: %s", out)
	}
	var shown struct {
		Status   string `json:"status"`
		ExitCode *int   `json:"exit_code"`
	}
	decodeJSON(t, e.must("terok-task", "show", first.ID), &shown)
	if shown.Status != "failed" || shown.ExitCode == nil || *shown.ExitCode != 3 {
		t.Fatalf("the scheduled task did not run to completion: %+v", shown)
	}
	var sched struct {
		LastRun *struct {
			Task     string `json:"task"`
			ExitCode *int   `json:"exit_code"`
		} `json:"last_run"`
		Tasks []string `json:"tasks"`
	}
	decodeJSON(t, e.must("terok-task", "schedule", "show", "nightly"), &sched)
	if sched.LastRun == nil || sched.LastRun.Task != first.ID || sched.LastRun.ExitCode == nil || *sched.LastRun.ExitCode != 3 {
		t.Fatalf("schedule show after the run: %+v", sched)
	}

	// The crontab line's command, as cron runs it: sh -c, in cron's
	// environment. --keep 1 removes the first run's task.
	line := strings.TrimSpace(e.must("terok-task", "schedule", "add", "cron-line", "ts", "true", "--on-calendar", "daily", "--cron"))
	e.must("terok-task", "schedule", "rm", "cron-line")
	cronCmd := strings.Replace(strings.SplitN(line, " ", 6)[5], "cron-line", "nightly", 1)
	out, errs, code = runBare(t, cronEnviron(t), "/bin/sh", "-c", cronCmd)
	if code != 3 {
		t.Fatalf("the crontab line's command exited %d, want 3:\n%s%s", code, out, errs)
	}
	var second struct {
		ID      string   `json:"id"`
		Removed []string `json:"removed"`
	}
	decodeJSON(t, out, &second)
	if len(second.Removed) != 1 || second.Removed[0] != first.ID {
		t.Fatalf("--keep 1 removed %v, want the first task %s", second.Removed, first.ID)
	}
	if _, _, code := e.run("", "terok-task", "show", first.ID); code != 4 {
		t.Fatalf("the first task is still there (show exits %d)", code)
	}
	if l := jsonLines(t, e.must("terok-task", "ls", "--project", "ts")); len(l) != 1 || l[0]["id"] != second.ID {
		t.Fatalf("tasks after the second run: %v", l)
	}

	// An overlapping run is refused: exit 75, naming the run that holds
	// the lock, and nothing made.
	f, err := os.OpenFile(filepath.Join(state, "schedules", "nightly.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runBare(t, env, args...)
	if code != 75 || out != "" || !strings.Contains(errs, "already running (pid "+strconv.Itoa(os.Getpid())+")") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("overlapping run: exit %d\n%s%s", code, out, errs)
	}
	if l := jsonLines(t, e.must("terok-task", "ls", "--project", "ts")); len(l) != 1 {
		t.Fatalf("the refused run made a task: %v", l)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)

	// rm removes the units and the definition; the tasks stay.
	e.must("terok-task", "schedule", "rm", "nightly")
	if ents, _ := os.ReadDir(units); len(ents) > 0 {
		t.Fatalf("rm left units: %v", ents)
	}
	if _, _, code := e.run("", "terok-task", "schedule", "show", "nightly"); code != 4 {
		t.Fatalf("show after rm exits %d, want 4", code)
	}
	e.must("terok-task", "show", second.ID)
}
