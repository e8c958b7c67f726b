package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/clearance"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/testenv"
)

// floodScript sends 10,000 A queries for random names outside any policy
// to the task's resolver as fast as bash can write them (one UDP socket,
// no waiting for answers), with a pause of 50 ms every 200 so that the
// kernel does not drop most of them before the resolver reads them:
// f<i>-<random>.flood.example.
const floodScript = `exec 3<>/dev/udp/127.0.0.1/53
for ((i = 0; i < 10000; i++)); do
	l="f$i-$RANDOM"
	printf -v n '\\x%02x' "${#l}"
	printf "\x13\x37\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00$n$l\x05flood\x07example\x00\x00\x01\x00\x01" >&3
	((i % 200 == 199)) && sleep 0.05
done
echo sent`

// A hostile task floods its resolver with 10,000 random names: its
// pending requests stay bounded (64 and one "and N more"), its warden's
// memory does not grow with the flood, and another task's blocked
// connection still becomes a request at once and is allowed through
// terok-clearance while the flood goes on.
func TestClearanceFlood(t *testing.T) {
	e := newTaskEnv(t)
	testenv.Need(t, fileExists(filepath.Join(shield.HooksDirDistribution, shield.HookFile)),
		"the shield's OCI hook is not registered (terok setup; scripts/test does)")
	newInternet(t) // 198.51.100.3 serves HTTP; a task does not reach it by default
	conf := envValue(e.env, "TEROK_CONFIG_DIR")
	writeShieldConfig(t, conf)
	e.must("terok-project", "new", "tfl", "--agents", "command")
	e.must("terok-image", "build", "tfl")
	a := startClearTask(t, e, "tfl")
	b := startClearTask(t, e, "tfl")
	rssA := func() int {
		t.Helper()
		var v struct{ Warden struct{ PID int } }
		decodeJSON(t, e.must("terok-task", "show", a.ID), &v)
		return rss(t, v.Warden.PID)
	}
	before := rssA()

	flooded := make(chan string, 1)
	go func() {
		o, ok := a.bash(floodScript)
		if !ok {
			o = "failed: " + o
		}
		flooded <- o
	}()
	// While the flood runs: b's blocked connection is a request, promptly,
	// and an allow of it goes through.
	time.Sleep(time.Second)
	start := time.Now()
	if o, ok := b.in("curl -sS -m 3 -o /dev/null http://" + inetOther + "/"); ok {
		t.Fatalf("b reached %s before any verdict: %s", inetOther, o)
	}
	var req clearance.Request
	for req.ID == "" && time.Since(start) < 20*time.Second {
		for _, r := range pendingOf(t, e, b.ID) {
			if r.Dest == inetOther {
				req = r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if req.ID == "" {
		t.Fatalf("b's request did not appear within 20 s of the flood")
	}
	t.Logf("b's request listed %v after its attempt, during a's flood", time.Since(start).Round(time.Millisecond))
	e.must("terok-clearance", "allow", req.ID)
	if o, ok := retry(b, "curl -sS -m 3 -o /dev/null -w '%{http_code}' http://"+inetOther+"/", 10*time.Second); !ok || o != "200" {
		t.Fatalf("b after the allow, during a's flood: %q", o)
	}

	select {
	case o := <-flooded:
		if o != "sent" {
			t.Fatalf("the flood: %s", o)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("the flood did not end in 5 minutes")
	}
	// Let the resolver drain what the socket still holds.
	time.Sleep(2 * time.Second)
	rs := pendingOf(t, e, a.ID)
	more, names := 0, 0
	for _, r := range rs {
		if r.Kind == clearance.KindOverflow {
			more += r.More
		} else {
			names++
		}
	}
	if len(rs) > clearance.DefaultMaxPending+1 || names > clearance.DefaultMaxPending || more < 3000 {
		t.Fatalf("a's queue after the flood: %d requests, %d names, %d more; want at most %d names and one overflow of most of the 10,000",
			len(rs), names, more, clearance.DefaultMaxPending)
	}
	after := rssA()
	t.Logf("a's warden: %d KiB resident before the flood, %d KiB after; %d names pending and %d more", before, after, names, more)
	if after > before+16*1024 {
		t.Fatalf("a's warden grew from %d KiB to %d KiB with the flood", before, after)
	}
}

// pendingOf is terok-clearance ls --task id.
func pendingOf(t *testing.T, e *taskEnv, id string) []clearance.Request {
	t.Helper()
	var rs []clearance.Request
	sc := bufio.NewScanner(strings.NewReader(e.must("terok-clearance", "ls", "--task", id)))
	for sc.Scan() {
		var r clearance.Request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("ls: %q: %v", sc.Text(), err)
		}
		rs = append(rs, r)
	}
	return rs
}

// rss is a process's resident memory in KiB.
func rss(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}
