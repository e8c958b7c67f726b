package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/engine"
)

// SetupHint is the fix for a host with no terok image yet.
const SetupHint = "run scripts/setup-host (or terok-image base)"

// staleProbeAge is how old a probe container must be to count as left
// behind by a killed run rather than another doctor's probe in flight.
const staleProbeAge = 5 * time.Minute

type podmanOutcome struct {
	result Result
	engine *engine.Engine
}

// checkPodman connects to Podman the way every terok command does.
func checkPodman(ctx context.Context, opts Options) podmanOutcome {
	type conn struct {
		e   *engine.Engine
		err error
	}
	c, ok := within(ctx, opts.PodmanTimeout, func(context.Context) conn {
		// The engine outlives this check: it is bounded by its own
		// timeouts, not by this context.
		e, err := engine.Connect(ctx, opts.Engine)
		return conn{e, err}
	}, func(c conn) {
		if c.e != nil {
			c.e.Close()
		}
	})
	switch {
	case !ok:
		return podmanOutcome{result: Result{Check: "podman", Status: Fail,
			Detail: fmt.Sprintf("no podman API answered within %s", opts.PodmanTimeout)}}
	case c.err != nil:
		return podmanOutcome{result: podmanFailure(c.err, opts)}
	}
	return podmanOutcome{result: podmanReached(ctx, c.e, opts), engine: c.e}
}

func podmanFailure(err error, opts Options) Result {
	r := Result{Check: "podman", Status: Fail, Detail: oneLine(err.Error())}
	var se *engine.SetupError
	switch {
	case errors.As(err, &se):
		r.Fix = se.Fix
	case opts.Engine.ServiceSocket != "":
		r.Fix = "see " + filepath.Join(filepath.Dir(opts.Engine.ServiceSocket), engine.LogFileName)
	}
	return r
}

// podmanReached describes the engine that answered.
func podmanReached(ctx context.Context, e *engine.Engine, opts Options) Result {
	r := Result{Check: "podman", Status: OK}
	ctx, cancel := context.WithTimeout(ctx, opts.PodmanTimeout)
	defer cancel()
	v, err := e.Version(ctx)
	if err != nil {
		r.Status, r.Detail = Fail, "answers on "+e.URI()+" but not its version: "+oneLine(err.Error())
		return r
	}
	mode := "rootful"
	if h, err := e.Host(ctx); err == nil && h.Rootless {
		mode = "rootless"
	}
	r.Detail = fmt.Sprintf("podman %s (API %s, %s) on %s, %s", v.Podman, v.API, mode, e.URI(), socketStory(e))
	return r
}

// socketStory says where the socket came from.
func socketStory(e *engine.Engine) string {
	switch e.Source() {
	case "config":
		return "podman.socket in config.toml"
	case "CONTAINER_HOST":
		return "from CONTAINER_HOST"
	case "default":
		return "the system's default socket"
	}
	if e.StartedService() {
		return fmt.Sprintf("started by terok just now (pid %d)", e.ServicePID())
	}
	return "terok's own service, already running"
}

type probeOutcome struct {
	result   Result
	image    string    // the probe's image, "" when there is none
	problems []Problem // what the engine's error text says went wrong
}

// checkContainer runs the probe container.
func checkContainer(ctx context.Context, opts Options, e *engine.Engine) probeOutcome {
	r := Result{Check: "container", Status: Fail}
	if e == nil {
		r.Detail, r.Fix = "not run: podman does not answer", "fix the podman check first"
		return probeOutcome{result: r}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.PodmanTimeout)
	defer cancel()
	image, res := probeImage(ctx, opts, e)
	if image == "" {
		return probeOutcome{result: res}
	}
	// Probes left behind by a killed run are cleaned before a new one.
	_, _ = e.RemoveProbes(ctx, staleProbeAge) // best effort: a probe left now is removed next time
	p, err := e.RunProbe(ctx, image, "echo", probeWord)
	switch {
	case err != nil:
		out := probeFailure(err, image, ReadContainersConf(opts.UID, opts.Getenv).UserFile)
		out.image = image
		return out
	case p.ExitCode != 0 || !strings.Contains(p.Output, probeWord):
		r.Detail = fmt.Sprintf("%s: echo exited %d with %q", image, p.ExitCode, oneLine(p.Output))
		r.Fix = "podman run --rm " + image + " echo ok  (reproduces it)"
		return probeOutcome{result: r, image: image}
	}
	r.Status = OK
	r.Detail = fmt.Sprintf("%s ran and was removed in %.2fs", image, p.Took.Seconds())
	return probeOutcome{result: r, image: image}
}

const probeWord = "terok-probe-ok"

// probeImage picks the probe's image; "" with the result to report when
// there is none.
func probeImage(ctx context.Context, opts Options, e *engine.Engine) (string, Result) {
	want := engine.ProbeImages
	if opts.Image != "" {
		want = []string{opts.Image}
	}
	image, err := e.FirstLocalImage(ctx, want...)
	switch {
	case err != nil:
		return "", Result{Check: "container", Status: Fail, Detail: oneLine(err.Error())}
	case image == "" && opts.Image != "":
		return "", Result{Check: "container", Status: Fail,
			Detail: "image " + opts.Image + " is not in local storage", Fix: "podman images lists the local images"}
	case image == "":
		return "", Result{Check: "container", Status: Warn,
			Detail: "not run: no local image (" + strings.Join(engine.ProbeImages, ", ") + ")", Fix: SetupHint}
	}
	return image, Result{}
}

// probeFailure reports a probe the engine could not run, recognising the
// known runtime failures in its words.
func probeFailure(err error, image, confFile string) probeOutcome {
	problems := ClassifyRuntimeError(err.Error())
	r := Result{Check: "container", Status: Fail, Detail: image + ": " + oneLine(err.Error())}
	if len(problems) > 0 {
		fixes := make([]string, len(problems))
		for i, p := range problems {
			fixes[i] = p.Fix(ReadLimits(), confFile)
		}
		r.Fix = strings.Join(fixes, "; and ")
	} else {
		r.Fix = "podman run --rm " + image + " echo ok  (reproduces it)"
	}
	return probeOutcome{result: r, problems: problems}
}

// hostFacts are what the runtime and limit checks reason from.
type hostFacts struct {
	uid      int
	rootless bool
	runtime  string // the OCI runtime podman uses
	source   string // how runtime was learned
	cgroups  CgroupMode
	conf     ContainersConf
	limits   Limits
}

// readHostFacts gathers the facts, asking the engine when it answers and
// the host's files otherwise.
func readHostFacts(ctx context.Context, opts Options, e *engine.Engine) hostFacts {
	f := hostFacts{uid: opts.UID, rootless: opts.UID != 0}
	f.conf = ReadContainersConf(opts.UID, opts.Getenv)
	f.cgroups = ReadCgroupMode()
	f.limits = ReadLimits()
	f.runtime, f.source = f.conf.Runtime, "containers.conf"
	if f.runtime == "" {
		f.runtime, f.source = defaultRuntime(), "podman's default"
	}
	if e == nil {
		return f
	}
	hctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if h, err := e.Host(hctx); err == nil {
		f.rootless = h.Rootless
		if h.OCIRuntime != "" {
			f.runtime, f.source = h.OCIRuntime, "podman info"
		}
	}
	return f
}

// oneLine keeps the first line of s, at most 400 bytes.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}
