package schedule

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// The calendar table: each expression's crontab line, or why cron
// cannot say it ("!" and a piece of the reason).
var calendars = []struct{ spec, cron string }{
	{"minutely", "* * * * *"},
	{"hourly", "0 * * * *"},
	{"daily", "0 0 * * *"},
	{"weekly", "0 0 * * 1"},
	{"monthly", "0 0 1 * *"},
	{"quarterly", "0 0 1 */3 *"},
	{"semiannually", "0 0 1 1,7 *"},
	{"yearly", "0 0 1 1 *"},
	{"annually", "0 0 1 1 *"},
	{"Mon..Fri 9:30", "30 9 * * 1-5"},
	{"Mon-Fri 02:00", "0 2 * * 1-5"},
	{"sat,sun 10:00", "0 10 * * 0,6"},
	{"Sunday 23:59", "59 23 * * 0"},
	{"*:0/15", "*/15 * * * *"},
	{"*:5/20", "5-59/20 * * * *"},
	{"1..5/2:00", "0 1,3,5 * * *"},
	{"*-*-1,15 04:00", "0 4 1,15 * *"},
	{"12-24 8:00", "0 8 24 12 *"},
	{"*-*-1..7 3:00:00", "0 3 1-7 * *"},
	{"03:00", "0 3 * * *"},
	{"*:*:30", "!seconds"},
	{"2030-01-01 00:00", "!years"},
	{"Mon *-*-1..7 1:00", "!either"},
}

func TestCalendarCron(t *testing.T) {
	for _, c := range calendars {
		cal, err := ParseCalendar(c.spec)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		got, err := cal.Cron()
		if want, refuse := strings.CutPrefix(c.cron, "!"); refuse {
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%q: cron %q, %v; want a one-line refusal about %s", c.spec, got, err, want)
			}
			continue
		}
		if err != nil || got != c.cron {
			t.Errorf("%q: cron %q, %v; want %q", c.spec, got, err, c.cron)
		}
	}
}

func TestCalendarRefused(t *testing.T) {
	for _, spec := range []string{"", "  ", "never", "Sat..Tue", "Mon..Fry", "*-13-01", "*-*-32", "25:00", "*:60",
		"*:*:1.5", "10:00 UTC", "10:00 Europe/Berlin", "*-*~03", "@1700000000", "*/2", "*-*-* */2:00",
		"1-2-3-4", "1:2:3:4", "5..1:00", "*:0/0", "*:0/x", "daily 10:00", "10:00 Mon", "1969-01-01", "%H:00"} {
		if c, err := ParseCalendar(spec); err == nil {
			t.Errorf("%q parsed: %+v", spec, c)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: a multi-line error: %q", spec, err)
		}
	}
}

func TestCalendarNext(t *testing.T) {
	base := time.Date(2026, 12, 2, 18, 7, 39, 0, time.UTC) // a Wednesday
	for _, c := range []struct{ spec, next string }{
		{"daily", "2026-12-03 00:00:00"},
		{"hourly", "2026-12-02 19:00:00"},
		{"minutely", "2026-12-02 18:08:00"},
		{"weekly", "2026-12-07 00:00:00"},
		{"Mon..Fri 9:30", "2026-12-03 09:30:00"},
		{"*:0/15", "2026-12-02 18:15:00"},
		{"yearly", "2027-01-01 00:00:00"},
		{"*-02-29 12:00", "2028-02-29 12:00:00"},
		{"Wed 18:07:39", "2026-12-09 18:07:39"},
		{"Wed 18:07:40", "2026-12-02 18:07:40"},
	} {
		cal, err := ParseCalendar(c.spec)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		got, ok := cal.Next(base)
		if !ok || got.Format(time.DateTime) != c.next {
			t.Errorf("%q: next %v %v, want %s", c.spec, got, ok, c.next)
		}
	}
	cal, _ := ParseCalendar("2020-01-01")
	if n, ok := cal.Next(base); ok {
		t.Errorf("a past date elapses again at %v", n)
	}
}

// The parser agrees with systemd: for each expression of the table, the
// next elapses systemd-analyze calendar computes are the parser's.
func TestCalendarAgreesWithSystemd(t *testing.T) {
	tool := testenv.Tool(t, "systemd-analyze", "systemd")
	re := regexp.MustCompile(`(?m)^\s*(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC$`)
	for _, c := range calendars {
		cal, err := ParseCalendar(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		// Retried once: a second may tick between the two clocks.
		for attempt := 0; ; attempt++ {
			now := time.Now().UTC()
			cmd := exec.Command(tool, "calendar", "--iterations=3", c.spec)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze calendar %q: %v\n%s", c.spec, err, out)
			}
			var want, got []string
			for _, m := range re.FindAllStringSubmatch(string(out), -1) {
				want = append(want, m[1])
			}
			at := now
			for range want {
				n, ok := cal.Next(at)
				if !ok {
					break
				}
				got = append(got, n.Format(time.DateTime))
				at = n
			}
			if len(want) > 0 && strings.Join(got, ",") == strings.Join(want, ",") {
				break
			}
			if attempt == 1 {
				t.Errorf("%q: systemd elapses %v, ours %v\n%s", c.spec, want, got, out)
				break
			}
		}
	}
	// And it refuses what systemd refuses, of the refused ones that are
	// not refused merely for being unsupported here.
	for _, spec := range []string{"never", "Sat..Tue", "*-13-01", "25:00", "*/2", "5..1:00"} {
		if exec.Command(tool, "calendar", spec).Run() == nil {
			t.Errorf("systemd accepts %q, which ParseCalendar refuses", spec)
		}
	}
}

func testDefinition(exe string) Definition {
	return Definition{Name: "nightly", Project: "demo", Agent: "command", OnCalendar: "Mon..Fri 02:30",
		Prompt: "make test", Keep: 2, Exe: exe, Timeout: config.Duration(time.Hour),
		Env: map[string]string{"HOME": "/home/a b", "TEROK_STATE_DIR": "/srv/terok%state"}}
}

func TestUnitsRender(t *testing.T) {
	d := testDefinition("/usr/local/bin/terok-task")
	svc := d.ServiceUnit()
	for _, want := range []string{
		"Type=oneshot\n",
		`ExecStart="/usr/local/bin/terok-task" "schedule" "run" "nightly"` + "\n",
		`Environment="HOME=/home/a b"` + "\n",
		`Environment="TEROK_STATE_DIR=/srv/terok%%state"` + "\n",
		"StandardInput=null\n",
	} {
		if !strings.Contains(svc, want) {
			t.Errorf("service lacks %q:\n%s", want, svc)
		}
	}
	tm := d.TimerUnit()
	for _, want := range []string{"OnCalendar=Mon..Fri 02:30\n", "Persistent=true\n", "Unit=terok-schedule-nightly.service\n", "WantedBy=timers.target\n"} {
		if !strings.Contains(tm, want) {
			t.Errorf("timer lacks %q:\n%s", want, tm)
		}
	}
	line, err := d.CronLine()
	want := `30 2 * * 1-5 HOME='/home/a b' TEROK_STATE_DIR='/srv/terok\%state' /usr/local/bin/terok-task schedule run nightly`
	if err != nil || line != want {
		t.Errorf("cron line %q, %v\nwant       %q", line, err, want)
	}
	// The multicall binary under its own name takes the command first.
	d.Exe = "/opt/bin/terok"
	if a := strings.Join(d.Args(), " "); a != "/opt/bin/terok task schedule run nightly" {
		t.Errorf("args %q", a)
	}
	d.OnCalendar = "*:*:30"
	if _, err := d.CronLine(); err == nil {
		t.Error("a cron line for a calendar with seconds")
	}
}

// The generated units pass systemd-analyze verify, with ExecStart on a
// real executable.
func TestUnitsVerify(t *testing.T) {
	tool := testenv.Tool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	exe := filepath.Join(dir, "bin", "terok-task")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"daily", "Mon..Fri 02:30", "*:0/15", "*-*-1,15 04:00:30"} {
		d := testDefinition(exe)
		d.OnCalendar = spec
		svc, tm, err := d.WriteUnits(filepath.Join(dir, "units"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tool, "verify", svc, tm).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify (%s): %v\n%s", spec, err, out)
		}
	}
	// It can fail: a service whose binary is missing does not verify.
	d := testDefinition(filepath.Join(dir, "missing"))
	svc, tm, err := d.WriteUnits(filepath.Join(dir, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "verify", svc, tm).CombinedOutput(); err == nil && !strings.Contains(string(out), "missing") {
		t.Errorf("systemd-analyze verify accepts a missing binary:\n%s", out)
	}
	if found, err := RemoveUnits(filepath.Join(dir, "bad"), "nightly"); !found || err != nil {
		t.Errorf("RemoveUnits: %v %v", found, err)
	}
}

func testStore(t *testing.T) Store {
	dir := t.TempDir()
	return Store{Paths: config.Paths{Config: filepath.Join(dir, "config"), State: filepath.Join(dir, "state")}}
}

func TestStoreRoundTrip(t *testing.T) {
	s := testStore(t)
	d := testDefinition("/usr/bin/terok-task")
	d.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Save(d); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("nightly")
	if err != nil || got.Prompt != d.Prompt || got.Timeout != d.Timeout || got.Env["HOME"] != d.Env["HOME"] || !got.Created.Equal(d.Created) {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	if fi, err := os.Stat(s.file("nightly")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("definition file: %v %v", fi, err)
	}
	if names, err := s.Names(); err != nil || strings.Join(names, ",") != "nightly" {
		t.Fatalf("names %v %v", names, err)
	}
	if _, err := s.Load("other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("load of a missing schedule: %v", err)
	}
	if _, err := s.Load("../x"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("load of a bad name: %v", err)
	}
	// An unknown key names the file, the line and the key.
	appendTo(t, s.file("nightly"), "kep = 3\n")
	if _, err := s.Load("nightly"); err == nil || !strings.Contains(err.Error(), "kep") || !strings.Contains(err.Error(), "nightly.toml") {
		t.Fatalf("unknown key: %v", err)
	}
	if err := s.Remove("nightly"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("nightly"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"nightly", "a1", "build-2"} {
		if err := ValidName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "Nightly", "a/b", "../x", "-a", "a--b", "ls", strings.Repeat("a", 41)} {
		if err := ValidName(n); err == nil || !strings.HasPrefix(err.Error(), "schedule name") {
			t.Errorf("%q: %v", n, err)
		}
	}
}

func TestRunsExpired(t *testing.T) {
	code := 0
	r := Runs{Runs: []Run{{Task: "a", ExitCode: &code}, {Task: ""}, {Task: "b"}, {Task: "c"}, {Task: "d"}}}
	if got := strings.Join(r.Expired(2), ","); got != "a,b" {
		t.Errorf("expired %q", got)
	}
	if r.Expired(0) != nil || r.Expired(4) != nil {
		t.Error("keep 0 or enough expired tasks")
	}
	r.Forget([]string{"a", "b", "d"})
	var left []string
	for _, run := range r.Runs {
		left = append(left, run.Task)
	}
	if strings.Join(left, ",") != ",c,d" {
		t.Errorf("left %q (the last run stays)", left)
	}
}

// A second lock is refused, naming the holder; released, it is free.
func TestLock(t *testing.T) {
	s := testStore(t)
	unlock, err := s.Lock("nightly")
	if err != nil {
		t.Fatal(err)
	}
	// Another process's attempt, as an overlapping run would make.
	if os.Getenv("SCHEDULE_LOCK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.v")
		cmd.Env = append(os.Environ(), "SCHEDULE_LOCK_CHILD="+s.Paths.State+"|"+s.Paths.Config)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "already running (pid "+strconv.Itoa(os.Getpid())+")") {
			t.Fatalf("child: %v\n%s", err, out)
		}
	}
	_, err = s.Lock("nightly") // a second open file description, in this process
	var be *BusyError
	if !errors.As(err, &be) || be.PID != os.Getpid() || be.ExitCode() != ExitBusy {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock, err = s.Lock("nightly")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

func TestLockChild(t *testing.T) {
	v := os.Getenv("SCHEDULE_LOCK_CHILD")
	if v == "" {
		t.Skip("run by TestLock")
	}
	state, cfg, _ := strings.Cut(v, "|")
	_, err := Store{Paths: config.Paths{State: state, Config: cfg}}.Lock("nightly")
	if err == nil {
		t.Fatal("locked while the parent holds it")
	}
	t.Log(err)
}

func TestUnitDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		env    map[string]string
		uid    int
		dir    string
		custom bool
	}{
		{map[string]string{"HOME": "/home/a"}, 0, "/etc/systemd/system", false},
		{map[string]string{"HOME": "/home/a"}, 1000, "/home/a/.config/systemd/user", false},
		{map[string]string{"HOME": "/home/a", "XDG_CONFIG_HOME": "/x"}, 1000, "/x/systemd/user", false},
		{map[string]string{"TEROK_UNIT_DIR": "/u"}, 0, "/u", true},
	} {
		dir, custom, err := UnitDir(env(c.env), c.uid)
		if err != nil || dir != c.dir || custom != c.custom {
			t.Errorf("%v uid %d: %q %v %v", c.env, c.uid, dir, custom, err)
		}
	}
	if _, _, err := UnitDir(env(nil), 1000); err == nil {
		t.Error("a user unit directory without HOME")
	}
}
