package cli

import (
	"fmt"
	"time"
)

// Tracer returns a function that reports how long each phase of a command
// took, on stderr as `PROG: trace PHASE MILLISECONDS`, when TEROK_TRACE=1;
// otherwise one that does nothing. Each call measures from the previous
// one (the first from when Tracer was called). The benchmarks read these
// lines to say where a command's time goes.
func (e *Env) Tracer() func(phase string) {
	if e.Getenv == nil || e.Getenv("TEROK_TRACE") != "1" {
		return func(string) {}
	}
	last := time.Now()
	return func(phase string) {
		now := time.Now()
		fmt.Fprintf(e.Stderr, "%s: trace %s %.2f\n", e.Prog, phase, float64(now.Sub(last).Microseconds())/1000)
		last = now
	}
}
