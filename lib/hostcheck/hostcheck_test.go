package hostcheck

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The error texts the engine gives on the project's machines and on
// others, word for word.
func TestClassifyRuntimeError(t *testing.T) {
	for _, c := range []struct {
		name string
		text string
		want []Problem
	}{
		{"crun nofile", "crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied", []Problem{RlimitDenied}},
		{"crun nofile plain", "crun: setrlimit RLIMIT_NOFILE: Operation not permitted", []Problem{RlimitDenied}},
		{"crun nproc", "starting the probe container x: crun: setrlimit `RLIMIT_NPROC`: Operation not permitted: OCI permission denied", []Problem{RlimitDenied}},
		{"runc nofile", "runc: runc create failed: unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted: OCI permission denied", []Problem{RlimitDenied}},
		{"runc nproc", "error setting rlimit type 6: operation not permitted", []Problem{RlimitDenied}},
		{"crun hybrid", "crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2: OCI runtime error", []Problem{HybridCgroups}},
		{"both", "crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted\ncrun: cgroups in hybrid mode not supported", []Problem{RlimitDenied, HybridCgroups}},
		{"missing command", `runc: exec: "/no/such/command": stat /no/such/command: no such file or directory`, nil},
		{"other permission", "open /dev/fuse: operation not permitted", nil},
	} {
		if got := ClassifyRuntimeError(c.text); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFixesAreTheSetupLines(t *testing.T) {
	host := Limits{NofileHard: 20000, NprocHard: 96365}
	want := `add to /etc/containers/containers.conf: [containers] default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]`
	if got := RlimitDenied.Fix(host, "/etc/containers/containers.conf"); got != want {
		t.Errorf("rlimit fix:\n%s\nwant\n%s", got, want)
	}
	low := Limits{NofileHard: 4096, NprocHard: 1024}
	if got := UlimitsFix(low, "/c"); !strings.Contains(got, `"nofile=4096:4096", "nproc=1024:1024"`) {
		t.Errorf("fix above the host's hard limits: %s", got)
	}
	if got := HybridCgroups.Fix(host, "/etc/containers/containers.conf"); !strings.HasSuffix(got, `add to /etc/containers/containers.conf: [engine] runtime = "runc"`) {
		t.Errorf("runtime fix: %s", got)
	}
}

// Mount tables as /proc/self/mounts shows them.
const (
	hybridMounts = `proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`
	unifiedMounts = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
`
	legacyMounts = `tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
`
)

func TestParseCgroupMode(t *testing.T) {
	for _, c := range []struct {
		mounts string
		want   CgroupMode
	}{
		{hybridMounts, CgroupHybrid},
		{unifiedMounts, CgroupV2},
		{legacyMounts, CgroupV1},
		{"proc /proc proc rw 0 0\n", CgroupNone},
		{"", CgroupNone},
	} {
		if got := ParseCgroupMode(strings.NewReader(c.mounts)); got != c.want {
			t.Errorf("%q: %s, want %s", c.mounts, got, c.want)
		}
	}
}

func TestCheckCgroups(t *testing.T) {
	for _, c := range []struct {
		name     string
		facts    hostFacts
		problems []Problem
		want     Status
		fix      bool
	}{
		{"hybrid with runc", hostFacts{cgroups: CgroupHybrid, runtime: "runc"}, nil, OK, false},
		{"hybrid with crun predicted", hostFacts{cgroups: CgroupHybrid, runtime: "crun"}, nil, Warn, true},
		{"hybrid seen in the probe", hostFacts{cgroups: CgroupHybrid, runtime: "crun"}, []Problem{HybridCgroups}, Fail, true},
		{"v2 with crun", hostFacts{cgroups: CgroupV2, runtime: "crun"}, nil, OK, false},
		{"rootless on v1", hostFacts{cgroups: CgroupV1, runtime: "runc", rootless: true}, nil, Warn, true},
		{"root on v1", hostFacts{cgroups: CgroupV1, runtime: "runc"}, nil, OK, false},
		{"broken containers.conf", hostFacts{cgroups: CgroupV2, runtime: "crun", conf: ContainersConf{Broken: []string{"/etc/containers/containers.conf: toml: line 1"}}}, nil, Fail, true},
	} {
		c.facts.conf.UserFile = "/etc/containers/containers.conf"
		r := checkCgroups(c.facts, c.problems)
		if r.Status != c.want || (r.Fix != "") != c.fix {
			t.Errorf("%s: %+v, want %s (fix %v)", c.name, r, c.want, c.fix)
		}
	}
}

func TestDeniedRlimits(t *testing.T) {
	host := Limits{NofileHard: 20000, NprocHard: 96365}
	for _, c := range []struct {
		name     string
		defaults []string
		l        Limits
		denied   int
	}{
		{"podman defaults above the hard limits", nil, host, 2},
		{"the setup's lines", []string{"nofile=20000:20000", "nproc=32768:32768"}, host, 0},
		{"nofile only", []string{"nofile=20000:20000"}, host, 1},
		{"soft only means both", []string{"nofile=30000", "nproc=1000"}, host, 1},
		{"unlimited", []string{"nofile=-1:-1", "nproc=1000"}, host, 1},
		{"other limits ignored", []string{"core=-1", "nofile=1024:1024", "nproc=1024:1024"}, host, 0},
		{"with CAP_SYS_RESOURCE", nil, Limits{NofileHard: 1024, NprocHard: 1024, CapSysResource: true}, 0},
		{"unlimited hard", nil, Limits{NofileHard: math.MaxUint64, NprocHard: math.MaxUint64}, 0},
	} {
		got, err := DeniedRlimits(c.defaults, c.l)
		if err != nil || len(got) != c.denied {
			t.Errorf("%s: %q, %v; want %d denied", c.name, got, err, c.denied)
		}
	}
	if _, err := DeniedRlimits([]string{"nofile=lots"}, host); err == nil {
		t.Error("a broken default_ulimits entry was accepted")
	}
}

func TestCheckUlimits(t *testing.T) {
	host := Limits{NofileHard: 20000, NprocHard: 96365}
	conf := func(set bool, lines ...string) ContainersConf {
		return ContainersConf{DefaultUlimits: lines, UlimitsSet: set, UserFile: "/etc/containers/containers.conf"}
	}
	for _, c := range []struct {
		name     string
		f        hostFacts
		problems []Problem
		probeRan bool
		want     Status
	}{
		{"seen in the probe", hostFacts{limits: host, conf: conf(false)}, []Problem{RlimitDenied}, false, Fail},
		{"predicted, no probe", hostFacts{limits: host, conf: conf(false)}, nil, false, Warn},
		{"predicted, probe ran", hostFacts{limits: host, conf: conf(false)}, nil, true, OK},
		{"fixed", hostFacts{limits: host, conf: conf(true, "nofile=20000:20000", "nproc=32768:32768")}, nil, false, OK},
		{"rootless", hostFacts{rootless: true, limits: host, conf: conf(false)}, nil, false, OK},
		{"broken entry", hostFacts{limits: host, conf: conf(true, "nofile")}, nil, true, Fail},
	} {
		if r := checkUlimits(c.f, c.problems, c.probeRan); r.Status != c.want {
			t.Errorf("%s: %+v, want %s", c.name, r, c.want)
		}
	}
}

func TestContainersConfMerge(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := write("one.conf", "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\n[engine]\nruntime = \"runc\"\n")
	var c ContainersConf
	if err := c.merge(mustRead(t, one)); err != nil {
		t.Fatal(err)
	}
	if c.Runtime != "runc" || !c.UlimitsSet || len(c.DefaultUlimits) != 2 {
		t.Fatalf("after the setup's file: %+v", c)
	}
	// A later file overrides the key it sets and keeps the others.
	if err := c.merge([]byte("[engine]\nruntime = \"crun\"\nevents_logger = \"file\"\n")); err != nil {
		t.Fatal(err)
	}
	if c.Runtime != "crun" || len(c.DefaultUlimits) != 2 {
		t.Errorf("after an override: %+v", c)
	}
	if err := c.merge([]byte("[engine\n")); err == nil {
		t.Error("a broken file parsed")
	}

	// $CONTAINERS_CONF is the only file read, and where a fix goes.
	getenv := func(k string) string {
		return map[string]string{"CONTAINERS_CONF": one, "HOME": dir}[k]
	}
	rc := ReadContainersConf(1000, getenv)
	if !reflect.DeepEqual(rc.Files, []string{one}) || rc.UserFile != one || rc.Runtime != "runc" {
		t.Errorf("with CONTAINERS_CONF: %+v", rc)
	}
}

func TestContainersConfFilesOrder(t *testing.T) {
	home := t.TempDir()
	getenv := func(k string) string { return map[string]string{"HOME": home}[k] }
	user := ContainersConfFiles(1000, getenv)
	if user[len(user)-1] != filepath.Join(home, ".config/containers/containers.conf") {
		t.Errorf("a user's own file is not read last: %q", user)
	}
	for _, p := range ContainersConfFiles(0, getenv) {
		if strings.HasPrefix(p, home) {
			t.Errorf("root reads a user file: %s", p)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSubIDs(t *testing.T) {
	got, err := ParseSubIDs(strings.NewReader("# comment\n\ncontainers:2147483647:2147483648\nalice:100000:65536\n1001:165536:65536\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []SubIDRange{{"containers", 2147483647, 2147483648}, {"alice", 100000, 65536}, {"1001", 165536, 65536}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSubIDs = %v, want %v", got, want)
	}
	for _, bad := range []string{"alice:100000\n", "alice:x:65536\n", ":1:2\n", "alice:1:2:3\n", "ok:1:65536\nalice:1:-5\n"} {
		if _, err := ParseSubIDs(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%q: %v; want an error naming the line", bad, err)
		}
	}
}

func TestJudgeSubIDs(t *testing.T) {
	containers := []SubIDRange{{"containers", 2147483647, 2147483648}}
	alice := []SubIDRange{{"alice", 100000, 65536}}
	byUID := []SubIDRange{{"1001", 100000, 65536}}
	small := []SubIDRange{{"alice", 100000, 1000}}
	for _, c := range []struct {
		name string
		uid  int
		user string
		ids  SubIDs
		want Status
	}{
		{"root with containers", 0, "root", SubIDs{containers, containers}, OK},
		{"root without", 0, "root", SubIDs{alice, alice}, Fail},
		{"root with uids only", 0, "root", SubIDs{containers, nil}, Fail},
		{"user by name", 1000, "alice", SubIDs{alice, alice}, OK},
		{"user by uid", 1001, "bob", SubIDs{byUID, byUID}, OK},
		{"user without", 1000, "alice", SubIDs{containers, containers}, Fail},
		{"user with too few", 1000, "alice", SubIDs{small, small}, Warn},
	} {
		r := JudgeSubIDs(c.uid, c.user, c.ids)
		if r.Status != c.want || (r.Status != OK && r.Fix == "") {
			t.Errorf("%s: %+v, want %s with a fix", c.name, r, c.want)
		}
	}
	if r := JudgeSubIDs(0, "root", SubIDs{}); !strings.Contains(r.Fix, "containers:2147483647:2147483648 >> /etc/subuid") {
		t.Errorf("root's fix: %s", r.Fix)
	}
}

func TestWorstAndRank(t *testing.T) {
	if Worst(nil) != OK {
		t.Error("no results is not ok")
	}
	rs := []Result{{Status: OK}, {Status: Warn}, {Status: OK}}
	if Worst(rs) != Warn || Worst(rs).Rank() != 1 {
		t.Error("worst of ok and warn")
	}
	if Worst(append(rs, Result{Status: Fail})).Rank() != 2 {
		t.Error("worst with a fail")
	}
}

func TestBoundedGivesUp(t *testing.T) {
	began := time.Now()
	r := bounded(context.Background(), "slow", 50*time.Millisecond, Warn, func(ctx context.Context) Result {
		time.Sleep(2 * time.Second) // ignores ctx, like a wedged call
		return Result{Check: "slow", Status: OK}
	})
	if r.Status != Warn || !strings.Contains(r.Detail, "no answer within") {
		t.Errorf("bounded = %+v", r)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("bounded waited %s", d)
	}
}

func TestDBusAbsentIsAWarning(t *testing.T) {
	r := checkDBus(context.Background(), func(string) string { return "" })
	if r.Status != Warn || r.Fix == "" {
		t.Errorf("no bus: %+v", r)
	}
	r = checkDBus(context.Background(), func(string) string { return "autolaunch:" })
	if r.Status != Warn {
		t.Errorf("autolaunch: %+v", r)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r = checkDBus(ctx, func(string) string { return "unix:path=" + filepath.Join(dir, "none") })
	if r.Status != Warn || !strings.Contains(r.Detail, "does not answer") {
		t.Errorf("dead bus: %+v", r)
	}
}

func TestGumMissingIsAWarningWithTheInstallLine(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := checkGum(context.Background())
	if r.Status != Warn || r.Fix != "go install github.com/charmbracelet/gum@v0.17.0" {
		t.Errorf("gum missing: %+v", r)
	}
	if r := checkGit(context.Background()); r.Status != Fail || r.Fix == "" {
		t.Errorf("git missing: %+v", r)
	}
}

func TestTaskProbeFacts(t *testing.T) {
	healthy := probeWord + "\nuid=1000\nCapEff=0000000000000000\nNoNewPrivs=1\nSeccomp=2\ninit=podman-init\nworkspace=writable\n"
	for _, tc := range []struct {
		name, out string
		ran       bool
		problems  int
	}{
		{"healthy", healthy, true, 0},
		{"did not run", "sh: not found\n", false, 6},
		{"root agent", strings.Replace(healthy, "uid=1000", "uid=0", 1), true, 1},
		{"capabilities", strings.Replace(healthy, "CapEff=0000000000000000", "CapEff=00000000a80425fb", 1), true, 1},
		{"no nnp, no seccomp", strings.NewReplacer("NoNewPrivs=1", "NoNewPrivs=0", "Seccomp=2", "Seccomp=0").Replace(healthy), true, 2},
		{"no init", strings.Replace(healthy, "init=podman-init", "init=sh", 1), true, 1},
		{"read-only workspace", strings.Replace(healthy, "workspace=writable\n", "", 1), true, 1},
	} {
		f := parseTaskProbe(tc.out)
		if f.ran != tc.ran || len(f.problems(1000)) != tc.problems {
			t.Errorf("%s: ran %v, problems %q", tc.name, f.ran, f.problems(1000))
		}
	}
}

func TestMissingHostPart(t *testing.T) {
	for text, want := range map[string]string{
		"container-init binary not found on the host: stat /usr/libexec/podman/catatonit: no such file or directory":                     "catatonit",
		`could not find slirp4netns, the network namespace can't be configured: exec: "slirp4netns": executable file not found in $PATH`: "slirp4netns",
		`command required for rootless mode with multiple IDs: exec: "newuidmap": executable file not found in $PATH`:                    "uidmap",
		"runc: exit status 1": "",
	} {
		if got := MissingHostPart(text); (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%q: fix %q, want one naming %q", text, got, want)
		}
	}
}
