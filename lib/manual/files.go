package manual

import (
	"fmt"

	"github.com/terok-ai/terok-go/lib/cli"
)

// Files renders every man page and completion of the bare binary (host)
// and of each command of the table, keyed by the file's path in the
// repository: man/NAME.1, man/terok-config.5, completions/bash/NAME,
// completions/zsh/_NAME and completions/fish/NAME.fish.
func Files(host cli.Command, cmds []cli.Command, ed Edition) (map[string]string, error) {
	out := map[string]string{}
	add := func(path string, text string, err error) error {
		if err != nil {
			return err
		}
		if _, dup := out[path]; dup {
			return fmt.Errorf("two commands make %s", path)
		}
		out[path] = text
		return nil
	}
	steps := []func() error{
		func() error { t, err := HostPage(host, cmds, ed); return add("man/"+host.Name+".1", t, err) },
		func() error { t, err := ConfigPage(ed); return add("man/terok-config.5", t, err) },
		func() error { t, err := HostBash(host, cmds); return add("completions/bash/"+host.Name, t, err) },
		func() error { t, err := HostZsh(host, cmds); return add("completions/zsh/_"+host.Name, t, err) },
		func() error {
			t, err := HostFish(host, cmds)
			return add("completions/fish/"+host.Name+".fish", t, err)
		},
	}
	for _, c := range cmds {
		steps = append(steps,
			func() error { t, err := Page(c, ed); return add("man/"+c.Name+".1", t, err) },
			func() error { t, err := Bash(c); return add("completions/bash/"+c.Name, t, err) },
			func() error { t, err := Zsh(c); return add("completions/zsh/_"+c.Name, t, err) },
			func() error { t, err := Fish(c); return add("completions/fish/"+c.Name+".fish", t, err) },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
