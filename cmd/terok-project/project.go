// Command terok-project creates, lists, shows, edits and removes terok
// projects, and prints the configuration's schema and paths.
//
// Synopsis:
//
//	terok-project new NAME [--upstream URL_OR_PATH] [--branch B] [--base IMAGE] [--agents LIST] [--profiles LIST] [--description TEXT]
//	terok-project ls [-q]
//	terok-project show NAME
//	terok-project edit NAME
//	terok-project rm NAME... | - [--yes]
//	terok-project config schema | paths | check
//
// A project is a directory under the configuration root holding
// project.toml; its name is a slug. Everything it prints is JSON lines when
// stdout is not a terminal (or with --json), a table otherwise.
package projectcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/session"
)

// Command is terok-project's entry in the command table.
var Command = cli.Command{
	Name:    "terok-project",
	Summary: "create, list, show, edit and remove projects",
	Detail: "A project is a long-lived configuration: an upstream repository, its default branch, " +
		"the base image and the agents its tasks use. Each lives in its own directory under the " +
		"configuration root as project.toml (see terok-config(5)).",
	Grammar:  func() any { return &Grammar{} },
	Sections: sections,
}

// Grammar is terok-project's command line.
type Grammar struct {
	cli.Globals
	New    NewCmd    `cmd:"" help:"Create a project."`
	Ls     LsCmd     `cmd:"" help:"List projects."`
	Show   ShowCmd   `cmd:"" help:"Show one project with its effective settings."`
	Edit   EditCmd   `cmd:"" help:"Edit a project's project.toml in $EDITOR; an invalid file is never saved."`
	Rm     RmCmd     `cmd:"" help:"Remove projects, keeping an archive of their configuration."`
	Config ConfigCmd `cmd:"" help:"Show the configuration's schema and paths, or check the files."`
}

// projectError maps library errors about one project to exit codes.
func projectError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, project.ErrNotFound):
		return cli.NotFoundf("no project named %q", name).WithHint("'terok-project ls' lists projects")
	case errors.Is(err, project.ErrExists):
		return cli.Failf("project %q exists", name).WithHint("'terok-project show %s' shows it", name)
	}
	var fe *config.FileError
	if errors.As(err, &fe) {
		return session.ConfigError(err)
	}
	if config.ValidName(name) != nil {
		return cli.Usagef("%v", err)
	}
	return err
}

// NewCmd is `terok-project new`.
type NewCmd struct {
	Name        string   `arg:"" optional:"" help:"The project's name: a slug of lower-case letters, digits and hyphens. Asked for on a terminal when omitted; required otherwise."`
	Upstream    string   `help:"The real repository: a git URL or a local path." placeholder:"URL_OR_PATH" completion:"dir"`
	Branch      string   `help:"The default branch." placeholder:"BRANCH"`
	Base        string   `help:"The base image (default: the global image.base)." placeholder:"IMAGE"`
	Agents      []string `help:"Comma-separated agents to install; the first is the default (default: the global image.agents)." placeholder:"LIST" sep:","`
	Profiles    []string `help:"Comma-separated egress profiles of the project's tasks ('terok-shield profiles' lists them; default: the global shield.profiles)." placeholder:"LIST" sep:","`
	Description string   `help:"One line saying what the project is." placeholder:"TEXT"`
}

func (c *NewCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st, g := s.Projects(), s.Global
	noFlags := c.Upstream == "" && c.Branch == "" && c.Base == "" && len(c.Agents) == 0 && len(c.Profiles) == 0 && c.Description == ""
	if c.Name == "" {
		if c.Name, err = env.AskValid("Project name", "", "NAME", func(n string) (string, error) {
			if err := config.ValidName(n); err != nil {
				return "", err
			}
			if _, err := os.Stat(st.Paths.ProjectDir(n)); err == nil {
				return "", projectError(n, project.ErrExists)
			}
			return n, nil
		}); err != nil {
			return err
		}
	}
	if err := config.ValidName(c.Name); err != nil {
		return cli.Usagef("%v", err)
	}
	wizard := noFlags && env.Interactive()
	if wizard {
		if _, err := os.Stat(st.Paths.ProjectDir(c.Name)); err == nil {
			return projectError(c.Name, project.ErrExists) // before any question
		}
		if err := c.wizard(env, s); err != nil {
			return err
		}
	}
	p := config.DefaultProject()
	p.Description = c.Description
	if c.Branch != "" {
		p.Branch = c.Branch
	}
	if err := config.ValidBranch(p.Branch); err != nil {
		return cli.Usagef("--branch: %v", err)
	}
	if c.Upstream != "" {
		if p.Upstream, err = resolveUpstream(c.Upstream); err != nil {
			return err
		}
	}
	if c.Base != "" {
		if err := config.ValidImageRef(c.Base); err != nil {
			return cli.Usagef("--base: %v", err)
		}
		p.Image.Base = c.Base
	}
	for _, a := range c.Agents {
		if a = strings.TrimSpace(a); a != "" {
			p.Image.Agents = append(p.Image.Agents, a)
		}
	}
	if err := checkAgents(s, p.Image.Agents); err != nil {
		return err
	}
	for _, pr := range c.Profiles {
		if pr = strings.TrimSpace(pr); pr != "" {
			p.Shield.Profiles = append(p.Shield.Profiles, pr)
		}
	}
	if err := checkProfiles(s, p.Shield.Profiles); err != nil {
		return err
	}
	if strings.ContainsAny(p.Description, "\r\n") {
		return cli.Usagef("--description: must be one line")
	}
	if err := st.Create(c.Name, p); err != nil {
		var fe *config.FileError
		if errors.As(err, &fe) {
			// The flags made an invalid file: name the flag.
			return cli.Usagef("%s: %s", flagOf[fe.Key], fe.Msg)
		}
		return projectError(c.Name, err)
	}
	if err := show(env, st, g, c.Name); err != nil || !wizard {
		return err
	}
	return c.finish(env, s)
}

// checkAgents refuses agents the roster does not know (the names' syntax
// and repeats are config's to check, with the rest of the file).
func checkAgents(s *session.Session, agents []string) error {
	for _, a := range agents {
		if config.ValidAgentName(a) != nil {
			return nil
		}
	}
	r, err := s.Roster()
	if err != nil {
		return err
	}
	for _, a := range agents {
		if _, ok := r.Get(a); !ok {
			ue := &agent.UnknownError{Name: a, Known: r.Names()}
			return cli.Usagef("--agents: %v", ue).WithHint("%s", ue.Hint())
		}
	}
	return nil
}

// checkProfiles refuses egress profiles that are not built in nor the
// user's (names' syntax is config's to check).
func checkProfiles(s *session.Session, profiles []string) error {
	for _, n := range profiles {
		if config.ValidProfileName(n) != nil {
			return nil
		}
	}
	if len(profiles) == 0 {
		return nil
	}
	all, err := policy.Profiles(s.Paths)
	if err != nil {
		return session.ConfigError(err)
	}
	for _, n := range profiles {
		if _, ok := all[n]; !ok {
			ue := &policy.UnknownProfileError{Name: n, Known: slices.Sorted(maps.Keys(all))}
			return cli.Usagef("--profiles: %v", ue).WithHint("%s", ue.Hint())
		}
	}
	return nil
}

// flagOf names the flag of `new` that sets a project.toml key.
var flagOf = map[string]string{
	"description": "--description", "upstream": "--upstream", "branch": "--branch",
	"image.base": "--base", "image.agents": "--agents", "shield.profiles": "--profiles",
}

// resolveUpstream accepts URLs as they are and turns a local path into an
// absolute path to an existing directory.
func resolveUpstream(u string) (string, error) {
	if strings.Contains(u, "://") || config.ValidUpstream(u) == nil && !looksLocal(u) {
		if err := config.ValidUpstream(u); err != nil {
			return "", cli.Usagef("--upstream: %v", err)
		}
		return u, nil
	}
	abs, err := filepath.Abs(u)
	if err != nil {
		return "", cli.Usagef("--upstream: %v", err)
	}
	st, err := os.Stat(abs)
	if err != nil || !st.IsDir() {
		return "", cli.Usagef("--upstream: %s is not a URL nor an existing directory", u)
	}
	if err := config.ValidUpstream(abs); err != nil {
		return "", cli.Usagef("--upstream: %v", err)
	}
	return abs, nil
}

func looksLocal(u string) bool {
	return strings.HasPrefix(u, "/") || strings.HasPrefix(u, ".") || !strings.Contains(u, ":")
}

// LsCmd is `terok-project ls`.
type LsCmd struct {
	Quiet bool `short:"q" help:"Print names only, one per line."`
}

func (c *LsCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st, g := s.Projects(), s.Global
	names, err := st.Names()
	if err != nil {
		return err
	}
	if c.Quiet {
		for _, n := range names {
			fmt.Fprintln(env.Stdout, n)
		}
		return nil
	}
	infos := make([]project.Info, 0, len(names))
	var bad error
	for _, n := range names {
		p, err := st.Load(n)
		if err != nil {
			env.Warnf("skipping project %s: %v", n, err)
			bad = cli.ExitStatus(cli.ExitFailure)
			continue
		}
		infos = append(infos, project.Describe(n, st.Paths.ProjectFile(n), p, g))
	}
	if err := cli.List(env, infos, []cli.Column[project.Info]{
		{Header: "NAME", Value: func(i project.Info) string { return i.Name }},
		{Header: "BRANCH", Value: func(i project.Info) string { return i.Branch }},
		{Header: "AGENTS", Value: func(i project.Info) string { return strings.Join(i.Agents, ",") }},
		{Header: "UPSTREAM", Value: func(i project.Info) string { return i.Upstream }},
		{Header: "DESCRIPTION", Value: func(i project.Info) string { return i.Description }},
	}); err != nil {
		return err
	}
	return bad
}

// ShowCmd is `terok-project show`.
type ShowCmd struct {
	Name string `arg:"" help:"The project to show." completion:"project"`
}

func (c *ShowCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st, g := s.Projects(), s.Global
	return show(env, st, g, c.Name)
}

func show(env *cli.Env, st project.Store, g config.Global, name string) error {
	p, err := st.Load(name)
	if err != nil {
		return projectError(name, err)
	}
	i := project.Describe(name, st.Paths.ProjectFile(name), p, g)
	return cli.Object(env, i, []cli.Field{
		{Name: "name", Value: i.Name},
		{Name: "description", Value: i.Description},
		{Name: "upstream", Value: i.Upstream},
		{Name: "branch", Value: i.Branch},
		{Name: "base", Value: i.Base},
		{Name: "agents", Value: strings.Join(i.Agents, ",")},
		{Name: "default agent", Value: i.DefaultAgent},
		{Name: "config file", Value: i.ConfigFile},
	})
}

// EditCmd is `terok-project edit`.
type EditCmd struct {
	Name string `arg:"" help:"The project whose project.toml to edit." completion:"project"`
}

func (c *EditCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.Projects()
	if _, err := st.Load(c.Name); err != nil && !isConfigError(err) {
		return projectError(c.Name, err)
	}
	path := st.Paths.ProjectFile(c.Name)
	orig, err := os.ReadFile(path)
	if err != nil {
		return projectError(c.Name, err)
	}
	tmpDir, err := os.MkdirTemp("", "terok-edit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "project.toml")
	if err := os.WriteFile(tmp, orig, 0o600); err != nil {
		return err
	}
	for {
		if err := runEditor(env, tmp); err != nil {
			return err
		}
		edited, err := os.ReadFile(tmp)
		if err != nil {
			return err
		}
		if string(edited) == string(orig) {
			env.Warnf("no changes to %s", path)
			return nil
		}
		err = st.Replace(c.Name, orig, edited)
		if err == nil {
			return nil
		}
		if !isConfigError(err) || !env.Interactive() {
			if isConfigError(err) {
				return cli.Failf("not saved: %v", session.ConfigError(err)).WithHint("the file is unchanged; fix the key and edit again")
			}
			return cli.Failf("%v", err)
		}
		fmt.Fprintf(env.Stderr, "%s: %v\n", env.Prog, session.ConfigError(err))
		if err := env.Confirm("The file is invalid and was not saved. Edit it again?", false); err != nil {
			return cli.Failf("not saved: the file is unchanged")
		}
	}
}

func isConfigError(err error) bool {
	var fe *config.FileError
	return errors.As(err, &fe)
}

// runEditor runs $VISUAL or $EDITOR (default vi) on path. The variable may
// hold arguments, as shells and git allow.
func runEditor(env *cli.Env, path string) error {
	ed := env.Getenv("VISUAL")
	if ed == "" {
		ed = env.Getenv("EDITOR")
	}
	if ed == "" {
		ed = "vi"
	}
	cmd := execCommand(env, "/bin/sh", "-c", ed+` "$1"`, "terok-editor", path)
	if err := cmd.Run(); err != nil {
		return cli.Failf("editor %q failed: %v; nothing saved", ed, err)
	}
	return nil
}

// RmCmd is `terok-project rm`.
type RmCmd struct {
	Names []string `arg:"" name:"name" help:"Projects to remove, or - to read them from stdin." completion:"project"`
	Yes   bool     `short:"y" help:"Do not ask for confirmation."`
}

// Removed is the JSON line `rm` prints per removed project.
type Removed struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
	Archive string `json:"archive"`
}

func (c *RmCmd) Run(env *cli.Env) error {
	s, err := session.Open(env)
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.Projects()
	names, fromStdin, err := env.Targets(c.Names, "name", "project", "id")
	if err != nil {
		return err
	}
	// Check everything first: a bad name or a missing project stops the
	// whole command before anything is removed.
	for _, n := range names {
		if err := config.ValidName(n); err != nil {
			return cli.Usagef("%v", err)
		}
		if _, err := os.Stat(st.Paths.ProjectDir(n)); errors.Is(err, fs.ErrNotExist) {
			return projectError(n, project.ErrNotFound)
		}
	}
	if len(names) == 0 {
		return nil
	}
	if fromStdin && !c.Yes {
		return cli.Usagef("targets read from stdin leave nothing to answer a confirmation; pass --yes")
	}
	q := fmt.Sprintf("Remove project %s?", names[0])
	if len(names) > 1 {
		q = fmt.Sprintf("Remove %d projects (%s)?", len(names), strings.Join(names, ", "))
	}
	if err := env.Confirm(q, c.Yes); err != nil {
		return err
	}
	var out []Removed
	for _, n := range names {
		arch, err := st.Remove(n, time.Now())
		if err != nil {
			_ = cli.List(env, out, rmColumns) // what was done so far; the failure is the error to report
			return projectError(n, err)
		}
		out = append(out, Removed{Name: n, Removed: true, Archive: arch})
	}
	return cli.List(env, out, rmColumns)
}

var rmColumns = []cli.Column[Removed]{
	{Header: "REMOVED", Value: func(r Removed) string { return r.Name }},
	{Header: "ARCHIVE", Value: func(r Removed) string { return r.Archive }},
}
