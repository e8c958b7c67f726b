package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/volumes"
	"github.com/containers/podman/v5/pkg/specgen"
)

// ProbeLabel marks probe containers, so that a probe left behind by a
// crash can always be found and removed.
const ProbeLabel = "terok.doctor"

// maxProbeOutput bounds the output a probe keeps.
const maxProbeOutput = 64 << 10

// ProbeImages are the local images a probe runs in, in order of preference.
var ProbeImages = []string{"localhost/terok/busybox:latest", "localhost/terok/debian:bookworm"}

// Probe is the outcome of a probe container that ran.
type Probe struct {
	Name     string
	ID       string
	ExitCode int
	Output   string // stdout and stderr, interleaved as logged, at most 64 KiB
	Took     time.Duration
	WhileErr error // what ProbeRun.While returned
}

// FirstLocalImage returns the first of names that exists in the engine's
// local storage, or "" when none does.
func (e *Engine) FirstLocalImage(ctx context.Context, names ...string) (string, error) {
	for _, n := range names {
		ok, err := images.Exists(e.on(ctx), n, nil)
		if err != nil {
			return "", fmt.Errorf("looking for image %s: %w", n, err)
		}
		if ok {
			return n, nil
		}
	}
	return "", nil
}

// RunProbe runs command in a throwaway container of image: create, start,
// wait, read its output, remove. An error means the container could not be
// created or started (the engine's own words, e.g. the OCI runtime's
// complaint); a command that ran and failed is a Probe with its exit code.
// The container is removed whatever happens.
func (e *Engine) RunProbe(ctx context.Context, image string, command ...string) (Probe, error) {
	s := specgen.NewSpecGenerator(image, false)
	s.Command = command
	s.Name = ProbeName()
	return e.RunProbeSpec(ctx, s, ProbeRun{})
}

// ProbeName is a fresh name for a probe container.
func ProbeName() string { return "terok-probe-" + randomHex(4) }

// ProbeRun says how RunProbeSpec runs its container.
type ProbeRun struct {
	// Lock, if set, is held while the container is created and started
	// (the engine lock tasks take).
	Lock func() (unlock func(), err error)
	// While, if set, is called with the container's process id once it
	// runs; the container is then stopped, so its command should wait
	// (e.g. end with a sleep). Its error is the Probe's WhileErr.
	While func(ctx context.Context, pid int) error
	// Ready, if set, is a line the command prints once it has said all it
	// will: While is called only after it (and the output is whole).
	Ready string
}

// RunProbeSpec runs the container s describes as a probe: labelled (so that
// RemoveProbes finds it), its named volumes made for it and labelled too,
// create, start, wait (or run.While, then stop), read its output, remove it
// and its volumes. Errors are as RunProbe's.
func (e *Engine) RunProbeSpec(ctx context.Context, s *specgen.SpecGenerator, run ProbeRun) (Probe, error) {
	ctx = e.on(ctx)
	start := time.Now()
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels[ProbeLabel] = "1"
	// k8s-file works everywhere, with or without journald.
	s.LogConfiguration = &specgen.LogConfig{Driver: "k8s-file"}
	fail := func(stage string, err error) (Probe, error) {
		return Probe{}, &ProbeError{Container: s.Name, Stage: stage, Err: err}
	}
	for _, v := range s.Volumes {
		if err := e.CreateVolume(ctx, v.Name, map[string]string{ProbeLabel: "1"}); err != nil {
			return fail("creating the volume of", err)
		}
		defer e.removeProbeVolume(ctx, v.Name)
	}
	unlock := func() {}
	if run.Lock != nil {
		u, err := run.Lock()
		if err != nil {
			return fail("locking the engine for", err)
		}
		unlock = u
	}
	createdID, err := e.CreateContainer(ctx, s)
	if err != nil {
		unlock()
		return fail("creating", err)
	}
	// The result stands whether or not the removal works; a probe left
	// behind keeps ProbeLabel, and RemoveProbes finds it later.
	defer func() { _ = e.removeProbe(ctx, createdID) }()
	err = containers.Start(ctx, createdID, nil)
	unlock()
	if err != nil {
		return fail("starting", err)
	}
	var whileErr error
	if run.While != nil {
		st, err := e.InspectContainer(ctx, createdID)
		switch {
		case err != nil:
			return fail("inspecting", err)
		case !st.Running || st.Pid <= 0:
			whileErr = fmt.Errorf("the probe container was no longer running (exit code %d)", st.ExitCode)
		default:
			if err := e.waitOutput(ctx, createdID, run.Ready); err != nil {
				return fail("reading the output of", err)
			}
			whileErr = run.While(ctx, st.Pid)
		}
		if err := e.StopContainer(ctx, createdID, 0); err != nil {
			return fail("stopping", err)
		}
	}
	code, err := containers.Wait(ctx, createdID, nil)
	if err != nil {
		return fail("waiting for", err)
	}
	out, err := e.logs(ctx, createdID)
	if err != nil {
		return fail("reading the output of", err)
	}
	return Probe{Name: s.Name, ID: createdID, ExitCode: int(code), Output: out, Took: time.Since(start), WhileErr: whileErr}, nil
}

// ProbeError is a probe container that could not be created, started or
// read; Err holds the engine's own words (e.g. the OCI runtime's complaint).
type ProbeError struct {
	Container string // its name
	Stage     string // "creating", "starting", ...
	Err       error
}

func (e *ProbeError) Error() string {
	return fmt.Sprintf("%s the probe container %s: %v", e.Stage, e.Container, e.Err)
}
func (e *ProbeError) Unwrap() error { return e.Err }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// On returns ctx carrying the engine's connection, for bindings calls made
// with a context of the caller's (e.g. with a timeout) rather than one
// derived from Context(). A nil ctx is Context().
func (e *Engine) On(ctx context.Context) context.Context { return e.on(ctx) }

// on puts the engine's connection into ctx, which may be a context of the
// caller's (e.g. with a timeout) rather than one derived from Context().
func (e *Engine) on(ctx context.Context) context.Context {
	if ctx == nil {
		return e.ctx
	}
	if _, err := bindings.GetClient(ctx); err == nil {
		return ctx
	}
	return connectionContext{Context: ctx, conn: e.ctx}
}

// connectionContext is ctx's deadline and cancellation with the values
// (the bindings' connection) of conn.
type connectionContext struct {
	context.Context
	conn context.Context
}

func (c connectionContext) Value(key any) any {
	if v := c.conn.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}

// removeProbe removes a probe container even when ctx has run out.
func (e *Engine) removeProbe(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := containers.Remove(ctx, id, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithIgnore(true))
	return err
}

// waitOutput waits until a running container's output has the line want
// ("" waits for nothing), polling every 20 ms until ctx ends.
func (e *Engine) waitOutput(ctx context.Context, id, want string) error {
	for want != "" {
		out, err := e.logs(ctx, id)
		if err != nil {
			return err
		}
		if strings.Contains("\n"+out, "\n"+want+"\n") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the probe did not print %q: %w (it printed %q)", want, ctx.Err(), out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// removeProbeVolume removes a probe's volume even when ctx has run out.
func (e *Engine) removeProbeVolume(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = e.RemoveVolume(ctx, name) // RemoveProbes takes what is left behind
}

// ProbeContainer is a probe container found in the engine.
type ProbeContainer struct {
	ID      string
	Name    string
	Created time.Time
}

// ProbeContainers lists every container labelled as a probe.
func (e *Engine) ProbeContainers(ctx context.Context) ([]ProbeContainer, error) {
	list, err := containers.List(e.on(ctx), new(containers.ListOptions).WithAll(true).
		WithFilters(map[string][]string{"label": {ProbeLabel + "=1"}}))
	if err != nil {
		return nil, err
	}
	out := make([]ProbeContainer, 0, len(list))
	for _, c := range list {
		pc := ProbeContainer{ID: c.ID, Created: c.Created}
		if len(c.Names) > 0 {
			pc.Name = c.Names[0]
		}
		out = append(out, pc)
	}
	return out, nil
}

// RemoveProbes removes the probe containers created more than olderThan
// ago (running or not; 0: all of them), left behind by a run that was
// killed, and returns how many it removed. A younger one may be another
// command's probe in flight.
func (e *Engine) RemoveProbes(ctx context.Context, olderThan time.Duration) (int, error) {
	list, err := e.ProbeContainers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if olderThan > 0 && time.Since(c.Created) < olderThan {
			continue
		}
		if err := e.removeProbe(e.on(ctx), c.ID); err != nil {
			return n, fmt.Errorf("removing probe container %s: %w", c.ID, err)
		}
		n++
	}
	// A volume of a probe that was killed outlives its container.
	vols, err := volumes.List(e.on(ctx), new(volumes.ListOptions).
		WithFilters(map[string][]string{"label": {ProbeLabel + "=1"}}))
	if err != nil {
		return n, err
	}
	for _, v := range vols {
		if olderThan > 0 && time.Since(v.CreatedAt) < olderThan {
			continue
		}
		if err := e.RemoveVolume(ctx, v.Name); err != nil {
			return n, fmt.Errorf("removing probe volume %s: %w", v.Name, err)
		}
	}
	return n, nil
}

// logs reads a stopped container's whole output.
func (e *Engine) logs(ctx context.Context, id string) (string, error) {
	stdout, stderr := make(chan string), make(chan string)
	var (
		mu  sync.Mutex
		out strings.Builder
		wg  sync.WaitGroup
	)
	keep := func(ch <-chan string) {
		defer wg.Done()
		for s := range ch {
			mu.Lock()
			if out.Len() < maxProbeOutput {
				out.WriteString(s[:min(len(s), maxProbeOutput-out.Len())])
			}
			mu.Unlock()
		}
	}
	wg.Add(2)
	go keep(stdout)
	go keep(stderr)
	err := containers.Logs(ctx, id, new(containers.LogOptions).WithStdout(true).WithStderr(true), stdout, stderr)
	close(stdout)
	close(stderr)
	wg.Wait()
	return out.String(), err
}
