package hostcheck

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/terok-ai/terok-go/lib/engine"
)

// Status is how a check went.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Rank orders statuses: ok 0, warn 1, fail 2 (also doctor's exit status).
func (s Status) Rank() int {
	switch s {
	case OK:
		return 0
	case Warn:
		return 1
	}
	return 2
}

// Result is one check's record.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// Worst is the worst status of rs (ok for none).
func Worst(rs []Result) Status {
	w := OK
	for _, r := range rs {
		if r.Status.Rank() > w.Rank() {
			w = r.Status
		}
	}
	return w
}

// Options say how to check.
type Options struct {
	Engine engine.Options
	// Image is the probe container's image; empty: the first of
	// engine.ProbeImages that exists.
	Image string
	// Timeout bounds each quick check (tools, files, D-Bus); Podman's
	// checks get PodmanTimeout.
	Timeout       time.Duration
	PodmanTimeout time.Duration
	Getenv        func(string) string
	UID           int
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.PodmanTimeout <= 0 {
		o.PodmanTimeout = 30 * time.Second
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Engine.Getenv == nil {
		o.Engine.Getenv = o.Getenv
	}
	return o
}

// Run runs every check, in order: podman, container, cgroups, ulimits,
// userns, nft, shield, git, gum, dbus.
func Run(ctx context.Context, opts Options) []Result {
	opts = opts.withDefaults()
	pod := checkPodman(ctx, opts)
	if pod.engine != nil {
		defer pod.engine.Close()
	}
	probe := checkContainer(ctx, opts, pod.engine)
	// The runtime checks weigh what the host predicts against what the
	// probe showed.
	host := readHostFacts(ctx, opts, pod.engine)
	return []Result{
		pod.result,
		probe.result,
		checkCgroups(host, probe.problems),
		checkUlimits(host, probe.problems, probe.result.Status == OK),
		bounded(ctx, "userns", opts.Timeout, Fail, func(context.Context) Result { return checkUserns(opts.UID) }),
		bounded(ctx, "nft", opts.Timeout, Fail, func(context.Context) Result { return checkNft() }),
		bounded(ctx, "shield", opts.Timeout, Fail, func(context.Context) Result { return checkShieldHook() }),
		bounded(ctx, "git", opts.Timeout, Fail, checkGit),
		bounded(ctx, "gum", opts.Timeout, Warn, checkGum),
		bounded(ctx, "dbus", opts.Timeout, Warn, func(ctx context.Context) Result { return checkDBus(ctx, opts.Getenv) }),
	}
}

// bounded runs a check, giving up with status onTimeout after d.
func bounded(ctx context.Context, name string, d time.Duration, onTimeout Status, check func(context.Context) Result) Result {
	r, ok := within(ctx, d, check, nil)
	if !ok {
		return Result{Check: name, Status: onTimeout, Detail: fmt.Sprintf("no answer within %s", d)}
	}
	return r
}

// within runs fn with a timeout of d, returning ok=false if it has not
// returned by then. A value that arrives after that is handed to discard
// (if not nil), so that nothing it holds leaks.
func within[T any](ctx context.Context, d time.Duration, fn func(context.Context) T, discard func(T)) (T, bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	got := make(chan T, 1)
	go func() { got <- fn(ctx) }()
	select {
	case v := <-got:
		cancel()
		return v, true
	case <-ctx.Done():
		go func() {
			v := <-got
			cancel()
			if discard != nil {
				discard(v)
			}
		}()
		var zero T
		return zero, false
	}
}
