package warden

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
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
