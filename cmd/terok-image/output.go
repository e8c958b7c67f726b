package imagecmd

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/image"
)

// The JSON lines `build` streams.
type (
	// ProgressLine is {type: progress}: a layer's build reached a step.
	ProgressLine struct {
		Type        string `json:"type"`
		Layer       string `json:"layer"`
		Step        int    `json:"step"`
		Of          int    `json:"of"`
		Instruction string `json:"instruction"`
	}
	// LogLine is {type: log}: one line of a layer's build output.
	LogLine struct {
		Type  string `json:"type"`
		Layer string `json:"layer"`
		Line  string `json:"line"`
	}
	// LayerLine is {type: layer}: a layer is ready.
	LayerLine struct {
		Type string `json:"type"`
		image.LayerResult
	}
	// ResultLine is {type: result}: the chain is ready.
	ResultLine struct {
		Type    string   `json:"type"`
		Project string   `json:"project"`
		Image   string   `json:"image"`
		Base    string   `json:"base"`
		BaseID  string   `json:"base_id"`
		Family  string   `json:"family"`
		Agents  []string `json:"agents"`
		L0      string   `json:"l0"`
		L1      string   `json:"l1"`
		L2      string   `json:"l2,omitempty"`
		Built   []string `json:"built"`
		Seconds float64  `json:"seconds"`
	}
)

// buildOutput shows a build: JSON lines when piped; on a terminal one live
// line per layer and step (and, with -v, the build's output).
type buildOutput struct {
	env     *cli.Env
	verbose bool
	start   time.Time
	live    bool // a progress line is on screen, to be overwritten
	events  *cli.Stream[image.Event]
}

func newBuildOutput(env *cli.Env, verbose bool) *buildOutput {
	o := &buildOutput{env: env, verbose: verbose, start: time.Now()}
	o.events = &cli.Stream[image.Event]{Env: env, JSON: eventLine, Text: o.text}
	return o
}

// event is the builder's Events callback.
func (o *buildOutput) event(e image.Event) { o.events.Print(e) }

// eventLine is the JSON line of a build event.
func eventLine(e image.Event) any {
	switch e := e.(type) {
	case image.Progress:
		return ProgressLine{"progress", e.Layer, e.Step, e.Of, e.Instruction}
	case image.Log:
		return LogLine{"log", e.Layer, e.Line}
	case image.LayerDone:
		return LayerLine{"layer", e.LayerResult}
	}
	return nil
}

// text shows a build event on a terminal.
func (o *buildOutput) text(env *cli.Env, e image.Event) error {
	switch e := e.(type) {
	case image.Progress:
		if !o.verbose {
			o.status(fmt.Sprintf("%s  step %d/%d  %s", e.Layer, e.Step, e.Of, oneLine(e.Instruction)))
		}
	case image.Log:
		if o.verbose {
			fmt.Fprintf(env.Stdout, "%s | %s\n", e.Layer, e.Line)
		}
	case image.LayerDone:
		what := "exists"
		if e.Built {
			what = fmt.Sprintf("built in %.1fs", e.Seconds)
		}
		o.clear()
		fmt.Fprintf(env.Stdout, "%s  %s  %s\n", e.Layer, e.Tag, what)
	}
	return nil
}

// status replaces the live line.
func (o *buildOutput) status(s string) {
	const width = 100
	if len(s) > width {
		s = s[:width-3] + "..."
	}
	fmt.Fprintf(o.env.Stdout, "\r\033[K%s", s)
	o.live = true
}

func (o *buildOutput) clear() {
	if o.live {
		fmt.Fprint(o.env.Stdout, "\r\033[K")
		o.live = false
	}
}

// done clears the live line, if one is on screen (only ever on a
// terminal).
func (o *buildOutput) done() { o.clear() }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (o *buildOutput) result(r image.Result) error {
	line := ResultLine{Type: "result", Project: r.Project, Image: r.Image(), Base: r.Base, BaseID: r.BaseID,
		Family: r.Family, Agents: r.Agents, Built: []string{},
		Seconds: time.Since(o.start).Round(10 * time.Millisecond).Seconds()}
	for _, l := range r.Layers {
		switch l.Layer {
		case image.L0:
			line.L0 = l.Tag
		case image.L1:
			line.L1 = l.Tag
		case image.L2:
			line.L2 = l.Tag
		}
		if l.Built {
			line.Built = append(line.Built, l.Layer)
		}
	}
	if o.env.JSONLines() {
		return cli.Line(o.env.Stdout, line)
	}
	what := "nothing to build"
	if len(line.Built) > 0 {
		what = "built " + strings.Join(line.Built, ", ")
	}
	name := r.Project
	if name == "" {
		name = "global defaults"
	}
	fmt.Fprintf(o.env.Stdout, "%s: %s (%s, %.1fs)\n", name, line.Image, what, line.Seconds)
	return nil
}

// failed shows the end of a failed build's output before the error, unless
// all of it was shown already.
func (o *buildOutput) failed(err error) error {
	var be *image.BuildError
	if errors.As(err, &be) {
		if !o.verbose || o.env.JSONLines() {
			fmt.Fprintf(o.env.Stderr, "the last lines of the %s build:\n", be.Layer)
			for _, l := range be.Tail {
				fmt.Fprintf(o.env.Stderr, "  | %s\n", l)
			}
		}
		return cli.Failf("%v", be).WithHint("older images are intact; 'terok-image build -v' shows the whole build output")
	}
	return err
}
