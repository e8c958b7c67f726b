package bench

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkPanic: `terok panic` cutting off five running tasks (each
// warden quarantines its task: network, DNS and gate; goal: well under a
// second, SECURITY.md guarantee 11), against one `podman ps` of them, the
// least a kill switch that went through Podman would cost. The tasks are
// quarantined from the first round on; each round quarantines them again,
// which is the same work. Podman is not asked: every warden answers.
func BenchmarkPanic(b *testing.B) {
	tp := newTaskProject(b)
	podman, _ := exec.LookPath("podman")
	for range 5 {
		var x struct{ ID string }
		out := tp.run("terok-task", "run", "--detach", "bench", "--agent", "command", "sleep 600")
		if err := json.Unmarshal([]byte(out), &x); err != nil || x.ID == "" {
			b.Fatalf("no task id: %v %s", err, out)
		}
	}
	// terok panic reports its phases (TEROK_TRACE=1): where the time goes.
	rounds := min(b.N, 20)
	phases := map[string]float64{}
	pairInspect(b, rounds, append(tp.env, "TEROK_TRACE=1"), []string{podman, "ps", "-q", "--filter", "label=terok.project=bench"},
		[]string{filepath.Join(tp.bin, "terok"), "panic"}, func(out []byte) { tracePhases(out, phases) })
	for p, ms := range phases {
		b.ReportMetric(ms/float64(rounds), p+"-ms")
	}
}
