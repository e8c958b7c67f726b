package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/errorhandling"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/store"
)

// Builder builds terok's images, and finds them again, through one engine.
type Builder struct {
	Engine  *engine.Engine
	Paths   config.Paths
	Roster  *agent.Roster
	Version string // terok's version, recorded in a label
	// CertDirs are where the host keeps locally added CA certificates;
	// nil: HostCertDirs.
	CertDirs []string
	// Events receives the build's progress (Progress, Log and LayerDone
	// values); nil: none.
	Events func(Event)
}

// Spec says what to build: a base, its family, the agents and, for a
// project, its name and snippet.
type Spec struct {
	Base             string
	Family           string // "" to detect
	Agents           []string
	Project          string // "" for L0 and L1 only
	Snippet          Snippet
	HostCertificates bool
	// NoCache rebuilds every layer without the build cache, even where its
	// tag exists.
	NoCache bool
	// RebuildAgents rebuilds L1 without the build cache (so the agents'
	// install lines fetch their newest versions), and L2 on top of it.
	RebuildAgents bool
}

// Event is one thing a build reports: a Progress, a Log or a LayerDone.
type Event interface{ event() }

// Progress says that a layer's build reached a step.
type Progress struct {
	Layer       string
	Step, Of    int
	Instruction string
}

// Log is one line of a layer's build output.
type Log struct {
	Layer, Line string
}

// LayerDone says that a layer is ready: found by its tag or built.
type LayerDone struct{ LayerResult }

func (Progress) event()  {}
func (Log) event()       {}
func (LayerDone) event() {}

// LayerResult is one layer of a built chain.
type LayerResult struct {
	Layer   string        `json:"layer"`
	Tag     string        `json:"tag"`
	ID      string        `json:"id"`
	Hash    string        `json:"hash"`
	Built   bool          `json:"built"`
	Took    time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
}

// Result is a chain of layers that is ready.
type Result struct {
	Project string        `json:"project"`
	Base    string        `json:"base"`
	BaseID  string        `json:"base_id"`
	Family  string        `json:"family"`
	Agents  []string      `json:"agents"`
	Layers  []LayerResult `json:"layers"`
}

// Image is the tag of the top layer: the image a task of the project runs.
func (r Result) Image() string { return r.Layers[len(r.Layers)-1].Tag }

// BuildError is a layer's build that failed: which layer, at which step,
// the end of its output, and the engine's error.
type BuildError struct {
	Layer       string
	Step, Of    int
	Instruction string
	Tail        []string
	Err         error
}

func (e *BuildError) Error() string {
	at := ""
	if e.Step > 0 {
		at = fmt.Sprintf(" at step %d/%d (%s)", e.Step, e.Of, trimInstruction(e.Instruction))
	}
	return fmt.Sprintf("building %s failed%s: %v", e.Layer, at, e.Err)
}
func (e *BuildError) Unwrap() error { return e.Err }

func trimInstruction(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 72 {
		s = s[:69] + "..."
	}
	return s
}

// BaseMissingError is a base image that is not in the engine's storage.
type BaseMissingError struct{ Base string }

func (e *BaseMissingError) Error() string { return fmt.Sprintf("base image %s does not exist", e.Base) }

// Hint names the command that makes it.
func (e *BaseMissingError) Hint() string {
	if e.Base == config.DefaultBase {
		return "make it with 'terok-image base'"
	}
	return "make it available with 'terok-image base " + e.Base + "'"
}

// ExitCode is "not found".
func (e *BaseMissingError) ExitCode() int { return 4 }

// FamilyError is a base whose package family could not be told.
type FamilyError struct {
	Base string
	Err  error
}

func (e *FamilyError) Error() string {
	return fmt.Sprintf("cannot tell the package family of %s: %v", e.Base, e.Err)
}
func (e *FamilyError) Unwrap() error { return e.Err }

// Hint names the override.
func (e *FamilyError) Hint() string {
	return "set image.family (deb or rpm) in config.toml or project.toml if the base has apt-get or dnf"
}

// Build makes sure every layer of spec exists, building those that do not
// (or all of them with NoCache), and records the chain. Only one build runs
// at a time per state directory; a second waits for the first.
func (b *Builder) Build(ctx context.Context, spec Spec) (Result, error) {
	unlock, err := store.Lock(b.Paths.ImagesDir())
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	ctx = b.on(ctx)
	agents, err := b.Roster.Select(spec.Agents)
	if err != nil {
		return Result{}, err
	}
	if spec.Project != "" {
		// Bad lines are reported before anything is built.
		if err := spec.Snippet.Check(); err != nil {
			return Result{}, err
		}
	}
	base, err := b.inspect(ctx, spec.Base)
	if err != nil {
		return Result{}, err
	}
	if base == nil {
		return Result{}, &BaseMissingError{Base: spec.Base}
	}
	fam := spec.Family
	if fam == "" {
		if fam, err = b.family(ctx, base.ID); err != nil {
			byName, ok := FamilyByName(spec.Base)
			if !ok {
				return Result{}, &FamilyError{Base: spec.Base, Err: err}
			}
			fam = byName
		}
	}
	roster := make([]*agent.Agent, len(agents))
	for i, n := range agents {
		roster[i], _ = b.Roster.Get(n)
	}
	var certs map[string][]byte
	if spec.HostCertificates {
		dirs := b.CertDirs
		if dirs == nil {
			dirs = HostCertDirs
		}
		if certs, err = HostCertificates(dirs); err != nil {
			return Result{}, err
		}
	}
	res := Result{Project: spec.Project, Base: spec.Base, BaseID: base.ID, Family: fam, Agents: agents}
	common := map[string]string{LabelBase: spec.Base, LabelVersion: b.Version}

	r0, err := RenderL0(fam, base.ID, certs)
	if err != nil {
		return res, err
	}
	l0, err := b.layer(ctx, r0, common, spec.NoCache)
	if err != nil {
		return res, err
	}
	res.Layers = append(res.Layers, l0)
	r1, err := RenderL1(fam, l0.ID, roster)
	if err != nil {
		return res, err
	}
	l1, err := b.layer(ctx, r1, common, spec.NoCache || spec.RebuildAgents)
	if err != nil {
		return res, err
	}
	res.Layers = append(res.Layers, l1)
	if spec.Project != "" {
		r2, err := RenderL2(spec.Project, fam, strings.Join(agents, ","), l1.ID, spec.Snippet)
		if err != nil {
			return res, err
		}
		l2, err := b.layer(ctx, r2, common, spec.NoCache)
		if err != nil {
			return res, err
		}
		res.Layers = append(res.Layers, l2)
	}
	return res, b.saveRecord(res)
}

// layer finds the recipe's image by its tag or builds it.
func (b *Builder) layer(ctx context.Context, r Recipe, common map[string]string, rebuild bool) (LayerResult, error) {
	start := time.Now()
	out := LayerResult{Layer: r.Layer, Tag: r.Tag, Hash: r.Hash}
	if !rebuild {
		img, err := b.inspect(ctx, r.Tag)
		if err != nil {
			return out, err
		}
		// A tag that carries another hash is not ours to trust.
		if img != nil && img.Labels[LabelHash] == r.Hash {
			out.ID = img.ID
			out.Took = time.Since(start)
			b.emit(LayerDone{out})
			return out, nil
		}
	}
	id, err := b.buildRecipe(ctx, r, common, rebuild)
	if err != nil {
		return out, err
	}
	out.ID, out.Built = id, true
	out.Took = time.Since(start)
	out.Seconds = out.Took.Round(10 * time.Millisecond).Seconds()
	b.emit(LayerDone{out})
	return out, nil
}

func (b *Builder) emit(e Event) {
	if b.Events != nil {
		b.Events(e)
	}
}

// buildRecipe runs one build through the engine and returns the image id
// its tag names afterwards.
func (b *Builder) buildRecipe(ctx context.Context, r Recipe, made map[string]string, noCache bool) (string, error) {
	dir, err := os.MkdirTemp("", "terok-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := r.WriteDir(dir, made); err != nil {
		return "", err
	}
	lw := &logWriter{layer: r.Layer, emit: b.emit}
	opts := types.BuildOptions{BuildOptions: define.BuildOptions{
		ContextDirectory:        dir,
		Output:                  r.Tag,
		Layers:                  true,
		NoCache:                 noCache,
		RemoveIntermediateCtrs:  true,
		ForceRmIntermediateCtrs: true,
		PullPolicy:              define.PullNever,
		// Docker's format keeps SHELL and the like of project snippets.
		OutputFormat:    define.Dockerv2ImageManifest,
		Out:             lw,
		Err:             lw,
		ReportWriter:    lw,
		CommonBuildOpts: &define.CommonBuildOptions{},
	}}
	for try := 1; ; try++ {
		_, err = images.Build(ctx, []string{filepath.Join(dir, "Containerfile")}, opts)
		lw.flush()
		if err == nil || try == cacheRaceTries || !cacheRace(err) || ctx.Err() != nil {
			break
		}
		b.emit(Log{Layer: r.Layer, Line: "an image went away while the build looked for its cached steps (removed by another command); building again"})
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
	}
	if err != nil {
		return "", &BuildError{Layer: r.Layer, Step: lw.step, Of: lw.of, Instruction: lw.instr, Tail: lw.tail(), Err: err}
	}
	img, err := b.inspect(ctx, r.Tag)
	if err != nil {
		return "", err
	}
	if img == nil || img.Labels[LabelHash] != r.Hash {
		return "", &BuildError{Layer: r.Layer, Tail: lw.tail(), Err: errors.New("the build ended but " + r.Tag + " is not the image it built")}
	}
	return img.ID, nil
}

// cacheRaceTries bounds the builds of one layer that cacheRace repeats.
const cacheRaceTries = 4

// cacheRace is a build that failed because an image was removed (a prune,
// an rm, another build's cleanup) while Podman 4.3's build went through
// every image in storage for a cached step: "checking if cached image
// exists from a previous build: getting top layer info: layer not known".
// Nothing was wrong with the build; the same build again goes through.
func cacheRace(err error) bool {
	m := err.Error()
	return strings.Contains(m, "checking if cached image exists") &&
		(strings.Contains(m, "layer not known") || strings.Contains(m, "image not known"))
}

// logWriter turns build output into Log and Progress events, and keeps the
// last lines for an error.
type logWriter struct {
	mu    sync.Mutex
	layer string
	emit  func(Event)
	buf   []byte
	last  []string
	step  int
	of    int
	instr string
}

// tailLines is how many lines of a failed build's output are kept.
const tailLines = 25

// A multi-stage build (L1 with npm stages) puts the stage first: "[2/3] STEP 1/4: ...".
var stepLine = regexp.MustCompile(`^(?:\[\d+/\d+\] )?STEP (\d+)/(\d+): (.*)$`)

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *logWriter) line(l string) {
	l = strings.TrimRight(l, "\r")
	if m := stepLine.FindStringSubmatch(l); m != nil {
		w.step, _ = strconv.Atoi(m[1])
		w.of, _ = strconv.Atoi(m[2])
		w.instr = m[3]
		w.emit(Progress{Layer: w.layer, Step: w.step, Of: w.of, Instruction: w.instr})
	}
	w.last = append(w.last, l)
	if len(w.last) > tailLines {
		w.last = w.last[len(w.last)-tailLines:]
	}
	w.emit(Log{Layer: w.layer, Line: l})
}

func (w *logWriter) tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string{}, w.last...)
}

// imageInfo is what terok reads of an image.
type imageInfo struct {
	ID     string
	Labels map[string]string
}

// inspect returns the image a reference names, or nil when there is none.
func (b *Builder) inspect(ctx context.Context, ref string) (*imageInfo, error) {
	return inspectImage(ctx, ref)
}

func inspectImage(ctx context.Context, ref string) (*imageInfo, error) {
	rep, err := images.GetImage(ctx, ref, new(images.GetOptions).WithSize(false))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	info := &imageInfo{ID: rep.ID, Labels: rep.Labels}
	if info.Labels == nil && rep.Config != nil {
		info.Labels = rep.Config.Labels
	}
	return info, nil
}

func isNotFound(err error) bool {
	var em *errorhandling.ErrorModel
	return errors.As(err, &em) && em.ResponseCode == 404
}

// on puts the engine's connection into ctx.
func (b *Builder) on(ctx context.Context) context.Context { return b.Engine.On(ctx) }
