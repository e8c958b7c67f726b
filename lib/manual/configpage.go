package manual

import (
	"strings"

	"github.com/terok-ai/terok-go/lib/config"
)

// configFiles are the two files of config.Schema(), in its order, with
// where each lives (as roff) and what it is.
var configFiles = []struct {
	file, where, about string
}{
	{"config.toml", italic("CONFIG_DIR") + escape("/config.toml"),
		"The global configuration. It is optional: an absent file, like an absent key, means the defaults."},
	{"project.toml", italic("CONFIG_DIR") + escape("/projects/") + italic("NAME") + escape("/project.toml"),
		"One project's configuration; NAME, the directory's name, is the project's name, a slug. " +
			"terok-project new creates it and terok-project edit changes it, never saving an invalid file."},
}

// ConfigPage is terok-config(5): the configuration files and every key of
// config.Schema(), grouped by file, with its type, default and meaning.
func ConfigPage(ed Edition) (string, error) {
	keys := config.Schema()
	r := &roff{}
	header(r, "terok-config", 5, ed, "config.Schema()")
	r.section("NAME")
	r.line(`terok\-config \- terok\(aqs configuration files, config.toml and project.toml`)

	r.section("SYNOPSIS")
	for i, f := range configFiles {
		if i > 0 {
			r.macro("br")
		}
		r.line(f.where)
	}

	r.section("DESCRIPTION")
	r.text("terok reads its configuration from TOML files: one global config.toml, and one project.toml " +
		"per project. A key that is absent takes its default; a key of a project.toml that is empty takes " +
		"the global value where its meaning says so.")
	r.macro("PP")
	r.text("A key terok does not know, a value of the wrong type or an invalid value is an error that " +
		"names the file, the line and the key; terok-project config check validates every file at once. " +
		"terok-project config schema prints the table of keys below as JSON lines, and terok-project " +
		"config paths prints where each file and directory is.")

	r.section("FILES")
	for _, f := range configFiles {
		r.item(f.where, f.about)
	}
	r.macro("PP")
	r.text("CONFIG_DIR, the configuration directory, is the first of:")
	r.item(bold("$TEROK_CONFIG_DIR"), "when set;")
	r.item(bold("/etc/terok"), "when run as root;")
	r.item(bold("$XDG_CONFIG_HOME/terok"), "when XDG_CONFIG_HOME is set;")
	r.item(bold("$HOME/.config/terok"), "otherwise.")
	r.macro("PP")
	r.text("State, data and runtime files live under their own roots, which terok(1) describes under ENVIRONMENT.")

	for _, f := range configFiles {
		r.section("KEYS OF " + f.file)
		for _, k := range keys {
			if k.File != f.file {
				continue
			}
			r.macro("TP")
			r.line(bold(k.Key) + " (" + escape(k.Type) + `; default ` + bold(string(k.Default)) + ")")
			r.text(k.Doc)
		}
	}

	r.section("EXAMPLES")
	r.text("A config.toml that sets every key to its default:")
	r.macro("IP")
	r.macro("EX")
	for _, ln := range tomlOf(keys, "config.toml") {
		r.example(ln)
	}
	r.macro("EE")

	r.section("ENVIRONMENT")
	r.item(bold("TEROK_CONFIG_DIR"), "the configuration directory, overriding every other choice.")
	r.item(bold("XDG_CONFIG_HOME"), "the base of the configuration directory of a user other than root.")

	writeSeeAlso(r, []string{"terok(1)", "terok-project(1)"})
	return r.String(), nil
}

// tomlOf renders the keys of one file at their defaults, as TOML: keys
// without a dot first, then one table per first component. A default is
// JSON, which for strings, lists of strings, numbers and booleans is TOML
// too.
func tomlOf(keys []config.Key, file string) []string {
	var top, out []string
	tables := map[string][]string{}
	var order []string
	for _, k := range keys {
		if k.File != file {
			continue
		}
		table, key, dotted := strings.Cut(k.Key, ".")
		if !dotted {
			top = append(top, k.Key+" = "+string(k.Default))
			continue
		}
		if _, seen := tables[table]; !seen {
			order = append(order, table)
		}
		tables[table] = append(tables[table], key+" = "+string(k.Default))
	}
	out = append(out, top...)
	for i, t := range order {
		if i > 0 || len(top) > 0 {
			out = append(out, "")
		}
		out = append(out, "["+t+"]")
		out = append(out, tables[t]...)
	}
	return out
}
