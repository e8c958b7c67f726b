package testenv

import (
	"fmt"
	"testing"
	"time"
)

// BusyAgent is the command agent's script of the many-tasks benchmark and
// test (bench BenchmarkFiftyTasks, cmd/terok TestTenTasksAtOnce): rounds
// times, it resolves an allowed name (deb.debian.org, the distribution
// mirrors' profile), has a name outside the policy refused, has a
// connection to a literal address outside the policy refused at once
// (curl's 7, not a timeout), and commits a file and pushes the commit
// through the gate ("busy round N"); then it prints BUSY-LOOP-DONE. It
// waits (polling its resolver every 2 s, half an hour at most) until it
// is cut off, and then checks that it is: no DNS, the gate refuses it
// (403), no connection out. It exits 0 only when all of that held; each
// failure has an exit code and a line of its own.
func BusyAgent(rounds int) string {
	return fmt.Sprintf(`set -eu
for i in $(seq %d); do
	getent hosts deb.debian.org >/dev/null || { echo "the allowed name did not resolve"; exit 10; }
	if getent hosts refused-$i.busy.example >/dev/null 2>&1; then echo "the refused name resolved"; exit 11; fi
	c=0; curl -sS -m 5 -o /dev/null http://198.51.100.3/ 2>/dev/null || c=$?
	[ "$c" = 7 ] || { echo "the blocked connection: curl exit $c"; exit 12; }
	echo "$i" >"round-$i"; git add "round-$i"; git commit -qm "busy round $i"
	git push -q origin "HEAD:refs/heads/$TEROK_BRANCH"
done
echo BUSY-LOOP-DONE
i=0
while getent hosts deb.debian.org >/dev/null 2>&1; do
	i=$((i+1)); [ "$i" -lt 900 ] || { echo "never cut off"; exit 13; }
	sleep 2
done
if getent hosts deb.debian.org >/dev/null 2>&1; then echo "DNS after the cut"; exit 14; fi
if out=$(git ls-remote origin 2>&1); then echo "the gate after the cut"; exit 15; fi
case $out in *403*) ;; *) echo "the gate after the cut: $out"; exit 16 ;; esac
c=0; curl -sS -m 5 -o /dev/null http://198.51.100.3/ 2>/dev/null || c=$?
[ "$c" != 0 ] || { echo "a connection after the cut"; exit 17; }
echo BUSY-CUT-OFF`, rounds)
}

// WaitBusyAgentsEnded waits, up to within, until none of the tasks ids
// is "running" in the listing list returns (terok-task ls's JSON lines,
// decoded), and returns the last listing. BusyAgent ends once it finds
// itself cut off; one never cut off fails the caller. (Not terok-task
// wait: an agent never cut off would wait half an hour.)
func WaitBusyAgentsEnded(tb testing.TB, ids map[string]bool, within time.Duration, list func() []map[string]any) []map[string]any {
	tb.Helper()
	for deadline := time.Now().Add(within); ; {
		ls := list()
		running := 0
		for _, v := range ls {
			if id, _ := v["id"].(string); ids[id] && v["status"] == "running" {
				running++
			}
		}
		if running == 0 {
			return ls
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s after the panic %d of %d agents still run (not cut off?)", within, running, len(ids))
		}
		time.Sleep(time.Second)
	}
}
