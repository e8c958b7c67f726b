package hostcheck

import (
	"context"
	"fmt"
	"os"
	"slices"
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
	// Only, if not empty, names the checks to run (see Checks).
	Only []string
	// TaskProbe runs the task-shaped probe; nil: the task check warns
	// that it did not run.
	TaskProbe *TaskProbe
	// Vault is what the vault check needs; nil: it warns that it did not
	// run.
	Vault *VaultProbe
	// GPU is what the gpu check needs; nil: no project asks for GPUs, and
	// the specs in CDISpecDirs are read.
	GPU *GPUProbe
	// Orphans lists, one a line, what terok made for tasks that no record
	// of this state tree claims (containers, volumes, wardens, sockets);
	// nil: there is no orphans check (terok setup's checks).
	Orphans func(context.Context) ([]string, error)
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

// Checks names every check, in the order Run runs them.
var Checks = []string{"podman", "container", "task", "binaries", "cgroups", "ulimits",
	"userns", "nft", "shield", "git", "gum", "dbus", "notifier", "vault", "gpu", "orphans"}

// engineChecks are the checks that need Podman to answer.
var engineChecks = []string{"podman", "container", "task", "cgroups", "ulimits"}

// Run runs the checks in Checks' order, or only those named in opts.Only.
// Podman is asked only when a check that needs it is to run.
func Run(ctx context.Context, opts Options) []Result {
	opts = opts.withDefaults()
	want := func(name string) bool { return len(opts.Only) == 0 || slices.Contains(opts.Only, name) }
	var out []Result
	podmanFailed := false
	if slices.ContainsFunc(engineChecks, want) {
		pod := checkPodman(ctx, opts)
		podmanFailed = pod.result.Status == Fail
		if pod.engine != nil {
			defer pod.engine.Close()
		}
		out = append(out, pod.result)
		runtime := want("cgroups") || want("ulimits")
		var probe probeOutcome
		if want("container") || want("task") || runtime {
			probe = checkContainer(ctx, opts, pod.engine)
			out = append(out, probe.result)
		}
		if want("task") {
			out = append(out, checkTask(ctx, opts, pod.engine, probe.image))
		}
		if want("binaries") {
			out = append(out, checkBinaries(opts.UID))
		}
		if runtime {
			// The runtime checks weigh what the host predicts against what
			// the probe showed.
			host := readHostFacts(ctx, opts, pod.engine)
			out = append(out, checkCgroups(host, probe.problems), checkUlimits(host, probe.problems, probe.result.Status == OK))
		}
	} else if want("binaries") {
		out = append(out, checkBinaries(opts.UID))
	}
	quick := []struct {
		name      string
		onTimeout Status
		check     func(context.Context) Result
	}{
		{"userns", Fail, func(context.Context) Result { return checkUserns(opts.UID) }},
		{"nft", Fail, func(context.Context) Result { return checkNft() }},
		{"shield", Fail, func(context.Context) Result { return checkShieldHook() }},
		{"git", Fail, checkGit},
		{"gum", Warn, checkGum},
		{"dbus", Warn, func(ctx context.Context) Result { return checkDBus(ctx, opts.Getenv) }},
		{"notifier", Warn, func(ctx context.Context) Result { return checkNotifier(ctx, opts.Getenv, opts.UID) }},
		{"vault", Warn, func(ctx context.Context) Result { return checkVault(ctx, opts.Vault, opts.UID) }},
		{"gpu", Warn, func(context.Context) Result { return checkGPU(opts.GPU) }},
	}
	for _, q := range quick {
		if want(q.name) {
			out = append(out, bounded(ctx, q.name, opts.Timeout, q.onTimeout, q.check))
		}
	}
	switch {
	case !want("orphans") || opts.Orphans == nil:
	case podmanFailed:
		// Looking would wait for Podman again, as long again.
		out = append(out, Result{Check: "orphans", Status: Warn, Detail: "not checked: Podman does not answer",
			Fix: "see the podman check"})
	default:
		out = append(out, bounded(ctx, "orphans", opts.PodmanTimeout, Warn,
			func(ctx context.Context) Result { return checkOrphans(ctx, opts.Orphans) }))
	}
	return slices.DeleteFunc(out, func(r Result) bool { return !want(r.Check) })
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
