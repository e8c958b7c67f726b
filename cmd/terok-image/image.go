// Command terok-image builds, lists and removes the images terok's tasks run
// in, makes base images available without a registry, and lists the agents
// that can be installed.
//
// Synopsis:
//
//	terok-image build [PROJECT] [--base IMAGE] [--family F] [--agents LIST] [--rebuild-agents] [--no-cache] [-v]
//	terok-image base [IMAGE] [--bootstrap] [--refresh] [--suite S] [--mirror URL] [--tool T] [-v]
//	terok-image agents [--base IMAGE | --family F] [-q]
//	terok-image ls [-a] [-q]
//	terok-image rm IMAGE... | - [--yes]
//	terok-image prune [--dry-run] [--yes]
//	terok-image usage
//
// Images come in three layers (L0 tools, L1 agents, L2 a project's own
// lines), each tagged by a hash of what went into it; see lib/image.
package imagecmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/image"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/session"
)

// Command is terok-image's entry in the command table.
var Command = cli.Command{
	Name:    "terok-image",
	Summary: "build, list and remove the layered images tasks run in; make base images",
	Detail: "Every task runs in an image of three layers: L0 is a base distribution with the tools every " +
		"task needs and terok's entry point, L1 adds the agents' command-line tools, L2 a project's own " +
		"Containerfile lines. Each layer is tagged by a hash of what went into it, so an unchanged layer " +
		"is never rebuilt and layers are shared between projects. Where no registry can be reached, " +
		"'terok-image base' makes a Debian base from the package mirror apt already uses.",
	Grammar:  func() any { return &Grammar{} },
	Sections: sections,
}

// Grammar is terok-image's command line.
type Grammar struct {
	cli.Globals
	Build  BuildCmd  `cmd:"" help:"Build what is missing of a project's image (without a project: L0 and L1 of the global defaults)."`
	Base   BaseCmd   `cmd:"" help:"Make a base image available: pull it, or bootstrap Debian from the package mirror."`
	Agents AgentsCmd `cmd:"" help:"List the agents of the roster, and whether each installs on a base."`
	Ls     LsCmd     `cmd:"" help:"List the images terok built."`
	Rm     RmCmd     `cmd:"" help:"Remove images terok built."`
	Prune  PruneCmd  `cmd:"" help:"Remove the images terok built that no project's last build and no container uses."`
	Usage  UsageCmd  `cmd:"" help:"Show the disk used per layer and per project, shared layers counted once."`
}

// BuildCmd is `terok-image build`.
type BuildCmd struct {
	Project       string   `arg:"" optional:"" help:"The project whose image to build; without one, L0 and L1 from the global image settings." completion:"project"`
	Base          string   `help:"Build on this base image instead of the configured one." placeholder:"IMAGE" completion:"image"`
	Family        string   `help:"The base's package family, deb or rpm, instead of detecting it." placeholder:"F" completion:"family"`
	Agents        []string `help:"Comma-separated agents to install instead of the configured ones." placeholder:"LIST" sep:"," completion:"agent"`
	RebuildAgents bool     `name:"rebuild-agents" help:"Rebuild L1 without the build cache, so that the agents' tools are their newest versions (and L2 on it)."`
	NoCache       bool     `name:"no-cache" help:"Rebuild every layer without the build cache."`
	Verbose       bool     `short:"v" help:"On a terminal, show the build output, not only a line per step."`
}

func (c *BuildCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	roster, err := s.Roster()
	if err != nil {
		return err
	}
	spec := image.Spec{
		Base: s.Global.Image.Base, Family: s.Global.Image.Family, Agents: s.Global.Image.Agents,
		HostCertificates: s.Global.Image.HostCertificates, NoCache: c.NoCache, RebuildAgents: c.RebuildAgents,
	}
	if c.Project != "" {
		if err := c.projectSpec(s, &spec); err != nil {
			return err
		}
	}
	if c.Base != "" {
		if err := config.ValidImageRef(c.Base); err != nil {
			return cli.Usagef("--base: %v", err)
		}
		if c.Base != spec.Base {
			spec.Base, spec.Family = c.Base, ""
		}
	}
	if c.Family != "" {
		if err := config.ValidFamily(c.Family); err != nil {
			return cli.Usagef("--family: %v", err)
		}
		spec.Family = c.Family
	}
	if len(c.Agents) > 0 {
		spec.Agents = nil
		for _, a := range c.Agents {
			if a = strings.TrimSpace(a); a != "" {
				spec.Agents = append(spec.Agents, a)
			}
		}
		if _, err := roster.Select(spec.Agents); err != nil {
			return agentError("--agents", err)
		}
	}
	e, err := s.Engine(env.Ctx)
	if err != nil {
		return err
	}
	out := newBuildOutput(env, c.Verbose)
	b := &image.Builder{Engine: e, Paths: s.Paths, Roster: roster, Version: cli.Version, Events: out.event}
	res, err := b.Build(env.Ctx, spec)
	out.done()
	if err != nil {
		return out.failed(err)
	}
	if res.Project != "" {
		// The shield's base profile allows the image's package mirrors:
		// read them now, once, rather than when a task starts.
		policy.ImageMirrors(env.Ctx, s.Paths, res.Image(), func(ctx context.Context, image string, command ...string) (string, int, error) {
			p, err := e.RunProbe(ctx, image, command...)
			return p.Output, p.ExitCode, err
		})
		if err := prepareRootless(env, s, out, res); err != nil {
			return err
		}
	}
	return out.result(res)
}

// prepareRootless has a rootless user's engine make its copy of a newly
// built project image under the tasks' user ids (task.Runner.PrepareImage:
// 11-13 s for a 560 MB image), here with a progress line, rather than in
// the user's first task. An image none of whose layers was built here was
// prepared when it was built.
func prepareRootless(env *cli.Env, s *session.Session, out *buildOutput, res image.Result) error {
	built := false
	for _, l := range res.Layers {
		built = built || l.Built
	}
	if !built {
		return nil
	}
	r, err := s.Runner(env.Ctx)
	if err != nil {
		return err
	}
	if !r.Rootless {
		return nil
	}
	out.event(image.Progress{Layer: "rootless", Step: 1, Of: 1,
		Instruction: "copying the image under the tasks' user ids (once per image)"})
	err = r.PrepareImage(env.Ctx, res.Image())
	out.done()
	return err
}

// projectSpec fills spec from a project's configuration.
func (c *BuildCmd) projectSpec(s *session.Session, spec *image.Spec) error {
	if err := config.ValidName(c.Project); err != nil {
		return cli.Usagef("%v", err)
	}
	p, err := s.Projects().Load(c.Project)
	if errors.Is(err, project.ErrNotFound) {
		return cli.NotFoundf("no project named %q", c.Project).WithHint("'terok-project ls' lists projects")
	}
	if err != nil {
		return session.ConfigError(err)
	}
	file := s.Paths.ProjectFile(c.Project)
	spec.Project = c.Project
	spec.Base, spec.Family, spec.Agents = p.EffectiveBase(s.Global), p.EffectiveFamily(s.Global), p.EffectiveAgents(s.Global)
	roster, err := s.Roster()
	if err != nil {
		return err
	}
	if _, err := roster.Select(spec.Agents); err != nil {
		var ue *agent.UnknownError
		if errors.As(err, &ue) && len(p.Image.Agents) > 0 {
			data, _ := os.ReadFile(file)
			return cli.Failf("%s:%d: image.agents: %v", file, config.KeyLine(data, "image.agents"), err).WithHint("%s", ue.Hint())
		}
		return agentError("image.agents of config.toml", err)
	}
	spec.Snippet = image.Snippet{Inline: p.Image.Snippet, InlinePath: file}
	cf := filepath.Join(s.Paths.ProjectDir(c.Project), image.ContainerfileName)
	data, err := readSmall(cf)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return cli.Failf("%v", err)
	default:
		spec.Snippet.File, spec.Snippet.FilePath = string(data), cf
	}
	if err := spec.Snippet.Check(); err != nil {
		return session.ConfigError(err)
	}
	return nil
}

func readSmall(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > config.MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, config.MaxFileSize)
	}
	return os.ReadFile(path)
}

// agentError reports an agent list that names an unknown agent.
func agentError(where string, err error) error {
	var ue *agent.UnknownError
	if errors.As(err, &ue) {
		return cli.Usagef("%s: %v", where, err).WithHint("%s", ue.Hint())
	}
	return err
}

// BaseCmd is `terok-image base`.
type BaseCmd struct {
	Image     string `arg:"" optional:"" help:"The base image to make available (default: the global image.base)." completion:"image"`
	Bootstrap bool   `help:"Bootstrap Debian from the package mirror without trying a registry."`
	Refresh   bool   `help:"Make the base anew even if it exists: pull again, or bootstrap a new root file system."`
	Suite     string `help:"The Debian suite to bootstrap (default: the image's tag, e.g. bookworm)." placeholder:"SUITE"`
	Mirror    string `help:"The Debian mirror to bootstrap from (default: the one apt's sources name)." placeholder:"URL"`
	Tool      string `help:"The bootstrap tool: mmdebstrap or debootstrap (default: the first installed; debootstrap only as root)." placeholder:"TOOL" completion:"bootstrap-tool"`
	Verbose   bool   `short:"v" help:"Show the bootstrap tool's output."`
}

func (c *BaseCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	ref := c.Image
	if ref == "" {
		ref = s.Global.Image.Base
	}
	if err := config.ValidImageRef(ref); err != nil {
		return cli.Usagef("%v", err)
	}
	if c.Suite != "" && !suiteName(c.Suite) {
		return cli.Usagef("--suite: %q is not a Debian suite name", c.Suite)
	}
	if c.Tool != "" && c.Tool != "mmdebstrap" && c.Tool != "debootstrap" {
		return cli.Usagef("--tool: %q is neither mmdebstrap nor debootstrap", c.Tool)
	}
	if c.Mirror != "" && !strings.HasPrefix(c.Mirror, "http://") && !strings.HasPrefix(c.Mirror, "https://") && !strings.HasPrefix(c.Mirror, "file:/") {
		return cli.Usagef("--mirror: %q is not an http, https or file URL", c.Mirror)
	}
	e, err := s.Engine(env.Ctx)
	if err != nil {
		return err
	}
	b := &image.Bases{Engine: e, Paths: s.Paths, UID: os.Getuid()}
	if c.Verbose {
		b.Log = env.Stderr
	}
	if !env.JSONLines() {
		fmt.Fprintf(env.Stdout, "making %s available (a bootstrap takes a minute or two)...\n", ref)
	}
	res, err := b.Ensure(env.Ctx, image.BaseRequest{Image: ref, Bootstrap: c.Bootstrap, Refresh: c.Refresh,
		Suite: c.Suite, Mirror: c.Mirror, Tool: c.Tool})
	if err != nil {
		return err
	}
	if res.Pull != "" && !env.JSONLines() {
		env.Warnf("pulling %s failed (%s); bootstrapped Debian instead", ref, res.Pull)
	}
	if res.Image != ref && !env.JSONLines() {
		env.Warnf("the base is %s; set image.base to it in config.toml to build on it", res.Image)
	}
	return cli.Object(env, res, []cli.Field{
		{Name: "image", Value: res.Image}, {Name: "id", Value: short(res.ID)}, {Name: "source", Value: res.Source},
		{Name: "rootfs", Value: res.Rootfs}, {Name: "mirror", Value: res.Mirror}, {Name: "tool", Value: res.Tool},
		{Name: "seconds", Value: fmt.Sprintf("%.1f", res.Seconds)},
	})
}

func suiteName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// AgentsCmd is `terok-image agents`.
type AgentsCmd struct {
	Base   string `help:"Say whether each agent installs on this base image (its family is detected)." placeholder:"IMAGE" completion:"image"`
	Family string `help:"Say whether each agent installs on this package family: deb or rpm." placeholder:"F" completion:"family"`
	Quiet  bool   `short:"q" help:"Print names only, one per line."`
}

// AgentInfo is the JSON line of one agent.
type AgentInfo struct {
	Name        string   `json:"name"`
	Label       string   `json:"label"`
	Description string   `json:"description"`
	Binary      string   `json:"binary"`
	Families    []string `json:"families"`
	// Needs is what the agent needs in L1 besides itself (the roster's
	// needs: node, npm).
	Needs       []string `json:"needs"`
	Family      string   `json:"family,omitempty"`
	Installable *bool    `json:"installable,omitempty"`
	Provider    string   `json:"provider"`
	Source      string   `json:"source"`
	// Unvaulted says why the agent cannot run behind the vault (the
	// roster's vault.unsupported): a task runs it only where its project
	// lists it in project.toml [vault] unvaulted.
	Unvaulted string `json:"unvaulted,omitempty"`
	// Login says the agent has a sign-in of its own that terok-vault login
	// runs (the roster's [login]).
	Login bool `json:"login,omitempty"`
}

func (c *AgentsCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	roster, err := s.Roster()
	if err != nil {
		return err
	}
	if c.Quiet {
		for _, n := range roster.Names() {
			fmt.Fprintln(env.Stdout, n)
		}
		return nil
	}
	fam := c.Family
	if c.Base != "" && c.Family != "" {
		return cli.Usagef("--base and --family exclude each other")
	}
	if err := config.ValidFamily(c.Family); err != nil {
		return cli.Usagef("--family: %v", err)
	}
	if c.Base != "" {
		if err := config.ValidImageRef(c.Base); err != nil {
			return cli.Usagef("--base: %v", err)
		}
		if c.Base == s.Global.Image.Base && s.Global.Image.Family != "" {
			fam = s.Global.Image.Family
		} else {
			e, err := s.Engine(env.Ctx)
			if err != nil {
				return err
			}
			b := &image.Builder{Engine: e, Paths: s.Paths, Roster: roster}
			if fam, err = b.Family(env.Ctx, c.Base); err != nil {
				return err
			}
		}
	}
	var out []AgentInfo
	for _, a := range roster.All() {
		i := AgentInfo{Name: a.Name, Label: a.Label, Description: a.Description, Binary: a.Binary,
			Families: a.Families(), Needs: append([]string{}, a.Needs...), Provider: a.Vault.Provider, Source: a.Source, Unvaulted: a.Vault.Unsupported, Login: a.HasLogin()}
		if fam != "" {
			_, ok := a.Lines(fam)
			i.Family, i.Installable = fam, &ok
		}
		out = append(out, i)
	}
	cols := []cli.Column[AgentInfo]{
		{Header: "NAME", Value: func(i AgentInfo) string { return i.Name }},
		{Header: "LABEL", Value: func(i AgentInfo) string { return i.Label }},
		{Header: "FAMILIES", Value: func(i AgentInfo) string { return strings.Join(i.Families, ",") }},
		{Header: "NEEDS", Value: func(i AgentInfo) string { return strings.Join(i.Needs, ",") }},
	}
	if fam != "" {
		cols = append(cols, cli.Column[AgentInfo]{Header: "ON " + strings.ToUpper(fam), Value: func(i AgentInfo) string {
			if *i.Installable {
				return "yes"
			}
			return "no"
		}})
	}
	cols = append(cols,
		// An agent that cannot run behind the vault says so where its
		// provider would be.
		cli.Column[AgentInfo]{Header: "PROVIDER", Value: func(i AgentInfo) string {
			if i.Unvaulted != "" {
				return "unvaulted"
			}
			return i.Provider
		}},
		cli.Column[AgentInfo]{Header: "LOGIN", Value: func(i AgentInfo) string {
			if i.Login {
				return "yes"
			}
			return ""
		}},
		cli.Column[AgentInfo]{Header: "SOURCE", Value: func(i AgentInfo) string { return i.Source }})
	return cli.List(env, out, cols)
}

// catalog opens the engine and the list of projects.
func catalog(env *cli.Env, s *session.Session) (*image.Catalog, error) {
	names, err := s.Projects().Names()
	if err != nil {
		return nil, err
	}
	e, err := s.Engine(env.Ctx)
	if err != nil {
		return nil, err
	}
	return &image.Catalog{Engine: e, Paths: s.Paths, Projects: names}, nil
}

// LsCmd is `terok-image ls`.
type LsCmd struct {
	All     bool   `short:"a" help:"Also list untagged images: earlier builds and what failed builds left."`
	Quiet   bool   `short:"q" help:"Print tags only (ids of untagged images), one per line."`
	Layer   string `help:"Only images of this layer: l0, l1, l2 or base." placeholder:"LAYER" completion:"layer"`
	Project string `help:"Only the L2 images of this project." placeholder:"PROJECT" completion:"project"`
}

func (c *LsCmd) Run(env *cli.Env) error {
	switch c.Layer {
	case "", image.L0, image.L1, image.L2, "base":
	default:
		return cli.Usagef("--layer: %q is none of l0, l1, l2 and base", c.Layer)
	}
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	cat, err := catalog(env, s)
	if err != nil {
		return err
	}
	all, err := cat.List(env.Ctx, c.All)
	if err != nil {
		return err
	}
	list := all[:0]
	for _, im := range all {
		if (c.Layer == "" || im.Layer == c.Layer) && (c.Project == "" || im.Project == c.Project) {
			list = append(list, im)
		}
	}
	if c.Quiet {
		for _, im := range list {
			if im.Tag != "" {
				fmt.Fprintln(env.Stdout, im.Tag)
			} else {
				fmt.Fprintln(env.Stdout, im.ID)
			}
		}
		return nil
	}
	return cli.List(env, list, lsColumns)
}

var lsColumns = []cli.Column[image.Image]{
	{Header: "TAG", Value: func(i image.Image) string { return tagOrID(i.Tag, i.ID) }},
	{Header: "LAYER", Value: func(i image.Image) string { return i.Layer }},
	{Header: "BASE", Value: func(i image.Image) string { return i.Base }},
	{Header: "AGENTS", Value: func(i image.Image) string { return strings.Join(i.Agents, ",") }},
	{Header: "USED BY", Value: func(i image.Image) string { return strings.Join(i.Users, ",") }},
	{Header: "SIZE", Value: func(i image.Image) string { return humanBytes(i.Size) }},
	{Header: "LAYER SIZE", Value: func(i image.Image) string { return humanBytes(i.LayerSize) }},
	{Header: "CREATED", Value: func(i image.Image) string { return i.Created.Local().Format("2006-01-02 15:04") }},
}

func tagOrID(tag, id string) string {
	if tag != "" {
		return tag
	}
	return "<none> " + short(id)
}

// humanBytes is a size as Podman shows it (powers of 1000).
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.3g %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// RmCmd is `terok-image rm`.
type RmCmd struct {
	Images []string `arg:"" name:"image" help:"Images to remove, by tag or id, or - to read them from stdin (tags, ids, or ls's JSON lines)." completion:"image"`
	Yes    bool     `short:"y" help:"Do not ask for confirmation."`
}

func (c *RmCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	refs, fromStdin, err := env.Targets(c.Images, "tag", "id")
	if err != nil {
		return err
	}
	for _, r := range refs {
		if strings.HasPrefix(r, "-") {
			return cli.Usagef("%q is not an image reference", r)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	if fromStdin && !c.Yes {
		return cli.Usagef("targets read from stdin leave nothing to answer a confirmation; pass --yes")
	}
	if !c.Yes && !env.Interactive() {
		return env.Confirm("Remove images?", false)
	}
	cat, err := catalog(env, s)
	if err != nil {
		return err
	}
	// Every name is checked before anything is removed.
	list, err := cat.Resolve(env.Ctx, refs)
	if err != nil {
		var nt *image.NotTerokError
		var iu *image.InUseError
		if errors.As(err, &nt) || errors.As(err, &iu) {
			return cli.Failf("%v", err)
		}
		return err
	}
	q := fmt.Sprintf("Remove %s?", tagOrID(list[0].Tag, list[0].ID))
	if len(list) > 1 {
		q = fmt.Sprintf("Remove %d images?", len(list))
	}
	if err := env.Confirm(q, c.Yes); err != nil {
		return err
	}
	return removed(env, cat.Remove(env.Ctx, list))
}

// removed prints what rm or prune removed; one that could not be removed
// makes the exit status 1.
func removed(env *cli.Env, out []image.Removed) error {
	if err := cli.List(env, out, []cli.Column[image.Removed]{
		{Header: "IMAGE", Value: func(r image.Removed) string { return tagOrID(r.Tag, r.ID) }},
		{Header: "LAYER", Value: func(r image.Removed) string { return r.Layer }},
		{Header: "SIZE", Value: func(r image.Removed) string { return humanBytes(r.Size) }},
		{Header: "REMOVED", Value: func(r image.Removed) string {
			if r.Removed {
				return "yes"
			}
			if r.Error != "" {
				return "no: " + r.Error
			}
			return "no (dry run)"
		}},
	}); err != nil {
		return err
	}
	for _, r := range out {
		if r.Error != "" {
			return cli.ExitStatus(cli.ExitFailure)
		}
	}
	return nil
}

// PruneCmd is `terok-image prune`.
type PruneCmd struct {
	DryRun bool `name:"dry-run" help:"Only list what would be removed."`
	Yes    bool `short:"y" help:"Do not ask for confirmation."`
}

func (c *PruneCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	if !c.DryRun {
		if err := env.Confirm("Remove every image terok built that nothing uses?", c.Yes); err != nil {
			return err
		}
	}
	cat, err := catalog(env, s)
	if err != nil {
		return err
	}
	out, err := cat.Prune(env.Ctx, c.DryRun)
	if err != nil {
		return err
	}
	return removed(env, out)
}

// UsageCmd is `terok-image usage`.
type UsageCmd struct{}

func (c *UsageCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	cat, err := catalog(env, s)
	if err != nil {
		return err
	}
	rows, err := cat.Usage(env.Ctx)
	if err != nil {
		return err
	}
	return cli.List(env, rows, []cli.Column[image.Usage]{
		{Header: "KIND", Value: func(u image.Usage) string { return u.Kind }},
		{Header: "NAME", Value: func(u image.Usage) string {
			if u.Image != "" {
				return u.Name + " in " + u.Image
			}
			return u.Name
		}},
		{Header: "SIZE", Value: func(u image.Usage) string { return humanBytes(u.Bytes) }},
		{Header: "UNIQUE", Value: func(u image.Usage) string { return humanBytes(u.Unique) }},
		{Header: "SHARED", Value: func(u image.Usage) string { return humanBytes(u.Shared) }},
		{Header: "USED BY", Value: func(u image.Usage) string { return strings.Join(u.Users, ",") }},
	})
}
