package warden

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestLean(t *testing.T) {
	oldGC := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(oldGC); debug.SetMemoryLimit(oldLimit) })
	Lean()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GC percent after Lean: %d, want %d", got, GCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != MemoryLimit {
		t.Errorf("memory limit after Lean: %d, want %d", got, MemoryLimit)
	}
	Settle() // a collection and a scavenge; it must simply return
}
