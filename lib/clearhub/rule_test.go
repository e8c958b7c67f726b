package clearhub

import (
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/clearance"
)

// EditShield edits the [shield] lists in place and nothing else, in every
// layout a person writes; a layout it cannot edit safely is refused.
func TestEditShield(t *testing.T) {
	head := "# top comment\nupstream = \"https://example.com/x.git\"\n[image]\nbase = \"x\"\n"
	cases := []struct {
		name, src  string
		a          clearance.Action
		dest, want string // want "" : refused
		unchanged  bool
	}{
		{name: "no shield table", src: head, a: clearance.Allow, dest: "api.example",
			want: head + "\n[shield]\nallow = [\"api.example\"]\n"},
		{name: "no newline at the end", src: strings.TrimSuffix(head, "\n"), a: clearance.Deny, dest: "1.2.3.4",
			want: head + "\n[shield]\ndeny = [\"1.2.3.4\"]\n"},
		{name: "table without the key", src: "[shield]\nprofiles = [\"base\"] # mine\n\n[run]\ntimeout = \"1h\"\n", a: clearance.Allow, dest: "API.example.",
			want: "[shield]\nallow = [\"api.example\"]\nprofiles = [\"base\"] # mine\n\n[run]\ntimeout = \"1h\"\n"},
		{name: "one line list, comment kept", src: "[shield]\nallow = [\"a.example\"] # keep me\n", a: clearance.Allow, dest: "b.example",
			want: "[shield]\nallow = [\"a.example\", \"b.example\"] # keep me\n"},
		{name: "already there", src: "[shield]\nallow = ['api.example']\n", a: clearance.Allow, dest: "api.example", unchanged: true},
		{name: "allow takes it off deny", src: "[shield]\nallow = []\ndeny = [\n  \"x.example\", # no\n  \"api.example\",\n]\n# end\n", a: clearance.Allow, dest: "api.example",
			want: "[shield]\nallow = [\"api.example\"]\ndeny = [\"x.example\"]\n# end\n"},
		{name: "deny takes it off allow", src: "[shield]\nallow = [\"api.example\", \"b.example\"]\n", a: clearance.Deny, dest: "api.example",
			want: "[shield]\ndeny = [\"api.example\"]\nallow = [\"b.example\"]\n"},
		{name: "strings with brackets and comments before", src: "upstream = \"https://example.com/[x].git\" # ] [shield]\n" +
			"[image]\nsnippet = '''\nRUN echo \\\n[shield] \\\nallow = 1\n'''\n[shield]\nallow = [] # ]\n", a: clearance.Allow, dest: "api.example",
			want: "upstream = \"https://example.com/[x].git\" # ] [shield]\n" +
				"[image]\nsnippet = '''\nRUN echo \\\n[shield] \\\nallow = 1\n'''\n[shield]\nallow = [\"api.example\"] # ]\n"},
		{name: "inline table refused", src: "shield = { allow = [] }\n", a: clearance.Allow, dest: "api.example"},
		{name: "dotted key", src: "shield.allow = [] # x\n", a: clearance.Allow, dest: "api.example", want: "shield.allow = [\"api.example\"] # x\n"},
		{name: "dotted keys without the list refused", src: "shield.profiles = []\n", a: clearance.Allow, dest: "api.example"},
		{name: "bad target refused", src: head, a: clearance.Allow, dest: "not a name"},
		{name: "metadata range refused", src: head, a: clearance.Allow, dest: "169.254.0.0/16"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, changed, err := EditShield("project.toml", []byte(c.src), c.a, c.dest)
			switch {
			case c.unchanged:
				if err != nil || changed || string(out) != c.src {
					t.Fatalf("changed %v err %v:\n%s", changed, err, out)
				}
			case c.want == "":
				if err == nil {
					t.Fatalf("taken:\n%s", out)
				}
			default:
				if err != nil || !changed || string(out) != c.want {
					t.Fatalf("err %v changed %v:\n%s\nwant:\n%s", err, changed, out, c.want)
				}
			}
		})
	}
}
