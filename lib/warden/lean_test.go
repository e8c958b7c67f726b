package warden

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestLean(t *testing.T) {
	oldGC := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	oldProcs := runtime.GOMAXPROCS(Procs + 1)
	t.Cleanup(func() { debug.SetGCPercent(oldGC); debug.SetMemoryLimit(oldLimit); runtime.GOMAXPROCS(oldProcs) })
	Lean()
	if got := runtime.GOMAXPROCS(0); got != Procs {
		t.Errorf("GOMAXPROCS after Lean: %d, want %d", got, Procs)
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GC percent after Lean: %d, want %d", got, GCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != MemoryLimit {
		t.Errorf("memory limit after Lean: %d, want %d", got, MemoryLimit)
	}
	Settle() // a collection and a scavenge; it must simply return
}

// SettleSoon settles once the warden has been quiet for SettleQuiet: not
// before, and once for a burst of calls. Settle's collection is a forced
// one, which the runtime counts.
func TestSettleSoon(t *testing.T) {
	forced := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := forced()
	SettleSoon()
	time.Sleep(SettleQuiet / 2)
	SettleSoon() // a second request's end puts it off again
	time.Sleep(SettleQuiet * 3 / 4)
	if n := forced() - before; n != 0 {
		t.Fatalf("%d forced collections before the warden was quiet for %v", n, SettleQuiet)
	}
	time.Sleep(SettleQuiet)
	if n := forced() - before; n != 1 {
		t.Fatalf("%d forced collections after a quiet %v, want 1", n, SettleQuiet)
	}
}
