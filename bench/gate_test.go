package bench

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkGatePush50MB pushes a repository of about 50 MB through the
// gate (`terok-gate serve` on loopback, the stock git client over smart
// HTTP) and, in the same run, with a plain `git push` to a local bare
// repository, each into an empty repository every time. Goal: the gate
// under 1.2 times the plain push. Pushes are slow, so it makes at most
// BENCH_GATE_RUNS (default 5) of each, whatever -benchtime asks.
func BenchmarkGatePush50MB(b *testing.B) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Fatalf("git is needed: %v", err)
	}
	root := stateRoot(b)
	env := append(os.Environ(), "TEROK_CONFIG_DIR="+root+"/config", "TEROK_STATE_DIR="+root+"/state",
		"TEROK_DATA_DIR="+root+"/data", "TEROK_RUNTIME_DIR="+root+"/run", "HOME="+root,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	run := func(dir string, argv ...string) {
		b.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	gateBin := filepath.Join(filepath.Dir(terok), "terok-gate")

	// The repository: 50 files of 1 MiB that do not compress, in 5 commits.
	src := filepath.Join(root, "src")
	run(root, "git", "init", "-q", "-b", "main", src)
	buf := make([]byte, 1<<20)
	for c := 0; c < 5; c++ {
		for f := 0; f < 10; f++ {
			rand.Read(buf)
			if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("blob-%d-%d", c, f)), buf, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		run(src, "git", "add", "-A")
		run(src, "git", "commit", "-q", "-m", fmt.Sprintf("commit %d", c))
	}

	// The gate: a project without upstream, served for one token.
	run(root, filepath.Join(filepath.Dir(terok), "terok-project"), "new", "bench")
	run(root, gateBin, "sync", "bench")
	token := "benchmark-token-0123456789"
	if err := os.WriteFile(filepath.Join(root, "token"), []byte(token), 0o600); err != nil {
		b.Fatal(err)
	}
	serve := exec.Command(gateBin, "serve", "bench", "--listen", "127.0.0.1:0", "--token-file", filepath.Join(root, "token"), "--task", "bench")
	serve.Env = env
	var serveErr strings.Builder
	serve.Stderr = &serveErr
	out, err := serve.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = serve.Process.Kill(); _ = serve.Wait() }() // killed, so Wait reports that
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		_ = serve.Wait() // for its stderr, which the failure shows
		b.Fatalf("terok-gate serve printed nothing: %s", serveErr.String())
	}
	var l struct{ URL string }
	if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
		b.Fatalf("%v: %s", err, sc.Text())
	}
	go func() {
		for sc.Scan() { // the push events
		}
	}()
	gateURL := strings.Replace(l.URL, "http://", "http://"+token+":@", 1)
	mirror := filepath.Join(root, "data", "gate", "bench.git")

	runs := 5
	if n, err := strconv.Atoi(os.Getenv("BENCH_GATE_RUNS")); err == nil && n > 0 {
		runs = n
	}
	runs = min(runs, b.N)
	var tb, tm time.Duration
	timed := func(argv ...string) time.Duration {
		t0 := time.Now()
		run(src, argv...)
		return time.Since(t0)
	}
	b.ResetTimer()
	for i := 0; i < runs; i++ {
		b.StopTimer()
		bare := filepath.Join(root, fmt.Sprintf("plain-%d.git", i))
		run(root, "git", "init", "-q", "--bare", bare)
		if err := os.RemoveAll(mirror); err != nil {
			b.Fatal(err)
		}
		run(root, gateBin, "sync", "bench")
		b.StartTimer()
		tb += timed("git", "push", "-q", bare, "main:refs/heads/work")
		tm += timed("git", "push", "-q", gateURL, "main:refs/heads/work")
		if err := os.RemoveAll(bare); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(runs)
	b.ReportMetric(float64(tb.Microseconds())/n/1000, "base-ms")
	b.ReportMetric(float64(tm.Microseconds())/n/1000, "terok-ms")
	b.ReportMetric(float64(tm)/float64(tb), "ratio")
	b.ReportMetric(0, "ns/op")
}
