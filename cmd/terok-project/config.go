package projectcmd

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/session"
)

// ConfigCmd is `terok-project config`.
type ConfigCmd struct {
	Schema SchemaCmd `cmd:"" help:"List every configuration key with its file, type, default and meaning."`
	Paths  PathsCmd  `cmd:"" help:"Print every resolved path."`
	Check  CheckCmd  `cmd:"" help:"Validate config.toml and every project.toml."`
}

// SchemaCmd is `terok-project config schema`.
type SchemaCmd struct{}

func (SchemaCmd) Run(env *cli.Env) error {
	return cli.List(env, config.Schema(), []cli.Column[config.Key]{
		{Header: "KEY", Value: func(k config.Key) string { return k.Key }},
		{Header: "FILE", Value: func(k config.Key) string { return k.File }},
		{Header: "TYPE", Value: func(k config.Key) string { return k.Type }},
		{Header: "DEFAULT", Value: func(k config.Key) string { return string(k.Default) }},
		{Header: "MEANING", Value: func(k config.Key) string { return k.Doc }},
	})
}

// PathsCmd is `terok-project config paths`.
type PathsCmd struct{}

func (PathsCmd) Run(env *cli.Env) error {
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	p := s.Paths
	return cli.List(env, p.List(), []cli.Column[config.NamedPath]{
		{Header: "NAME", Value: func(n config.NamedPath) string { return n.Name }},
		{Header: "PATH", Value: func(n config.NamedPath) string { return n.Path }},
		{Header: "SOURCE", Value: func(n config.NamedPath) string { return n.Source }},
	})
}

// CheckCmd is `terok-project config check`.
type CheckCmd struct{}

// Checked is the JSON line `config check` prints per file.
type Checked struct {
	File  string `json:"file"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (CheckCmd) Run(env *cli.Env) error {
	s, err := session.OpenPaths(env)
	if err != nil {
		return err
	}
	p := s.Paths
	var out []Checked
	check := func(file string, err error) {
		c := Checked{File: file, OK: err == nil}
		if err != nil {
			c.Error = err.Error()
		}
		out = append(out, c)
	}
	if _, err := os.Stat(p.ConfigFile()); !errors.Is(err, fs.ErrNotExist) {
		_, err := config.LoadGlobal(p.ConfigFile())
		check(p.ConfigFile(), err)
	}
	st := project.Store{Paths: p}
	names, err := st.Names()
	if err != nil {
		return err
	}
	for _, n := range names {
		_, err := config.LoadProject(p.ProjectFile(n))
		check(p.ProjectFile(n), err)
	}
	if err := cli.List(env, out, []cli.Column[Checked]{
		{Header: "FILE", Value: func(c Checked) string { return c.File }},
		{Header: "STATUS", Value: func(c Checked) string {
			if c.OK {
				return "ok"
			}
			return c.Error
		}},
	}); err != nil {
		return err
	}
	for _, c := range out {
		if !c.OK {
			return cli.ExitStatus(cli.ExitFailure)
		}
	}
	return nil
}

func execCommand(env *cli.Env, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(env.Ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd
}
