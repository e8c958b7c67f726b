package warden

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// The warden process's garbage collector settings (see Lean). A host runs
// one warden per task, most of them idle: memory a warden holds for the
// garbage of its start or of a burst of work is held fifty times.
const (
	// GCPercent is the heap growth between collections: half the Go
	// default, so garbage waits for a collection at most half as long as
	// the live heap is large (which, for a warden, is about 2 MiB).
	GCPercent = 50
	// MemoryLimit is the soft cap on the Go runtime's memory: above it
	// the collector runs as often as it must (it never fails an
	// allocation). Far above an idle warden's 6 MiB and a clone's peak; it
	// bounds the garbage a burst of vault or gate traffic may leave.
	MemoryLimit = 64 << 20
	// Procs is how many threads run the warden's Go code at once
	// (GOMAXPROCS): one. A warden waits on its sockets nearly all its
	// life and its heavy work is done by other processes (git packs a
	// clone, the provider answers); a thread blocked in a system call
	// still lets another run. Each further P costs an allocation cache
	// and a background mark worker, and wakes more threads at the start,
	// which the runtime keeps for the process's life (two Go stacks each,
	// 48 KiB): 0.4 MB of an idle warden (docs/decisions.md "Under 12 MB").
	Procs = 1
	// SettleQuiet is how long the warden must have been quiet after a
	// burst of work (SettleSoon) before it returns that work's memory.
	SettleQuiet = 2 * time.Second
)

// Lean sets the runtime of a warden process (services.Serve calls it
// first): one P, the collector's growth and its soft memory cap. It
// changes nothing the warden does, only how many threads run it and how
// soon it returns garbage.
func Lean() {
	runtime.GOMAXPROCS(Procs)
	debug.SetGCPercent(GCPercent)
	debug.SetMemoryLimit(MemoryLimit)
}

// Settle returns to the operating system the memory the warden's start
// left behind (a collection, then the freed pages): called once, after the
// warden reported ready, so the task's start does not wait for it.
func Settle() { debug.FreeOSMemory() }

// settle is SettleSoon's timer, made on its first call.
var settle struct {
	mu sync.Mutex
	t  *time.Timer
}

// SettleSoon asks for Settle once the warden has been quiet for
// SettleQuiet: a service calls it as a request ends (a clone through the
// gate leaves a megabyte of freed pages that the runtime's own scavenger
// would return only slowly, and only down to twice the live heap). Each
// call puts the settling off again, so a busy warden settles once its
// burst is over, not after each request.
func SettleSoon() {
	settle.mu.Lock()
	defer settle.mu.Unlock()
	if settle.t == nil {
		settle.t = time.AfterFunc(SettleQuiet, Settle)
		return
	}
	settle.t.Reset(SettleQuiet)
}
