package agent

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/terok-ai/terok-go/lib/config"
)

//go:embed roster/*.toml
var builtin embed.FS

// BuiltinSource is the Source of an agent defined only by the built-in roster.
const BuiltinSource = "built-in"

// Agent is one roster entry.
type Agent struct {
	Name        string            `toml:"-"`
	Label       string            `toml:"label"`
	Description string            `toml:"description"`
	Binary      string            `toml:"binary"`
	Needs       []string          `toml:"needs"`
	Install     Install           `toml:"install"`
	Headless    Mode              `toml:"headless"`
	Interactive Mode              `toml:"interactive"`
	Permissions Permissions       `toml:"permissions"`
	Env         map[string]string `toml:"env"`
	Vault       Vault             `toml:"vault"`
	Login       Login             `toml:"login"`

	// Source is BuiltinSource, or the path of the user's file that last
	// changed the entry.
	Source string `toml:"-"`

	// The file that last changed the entry, and its text, for errors.
	file string
	data []byte
}

// What an agent may need besides its install lines (the roster's needs).
const (
	// NeedNode is Node.js at run time: L1 installs it (from the family's
	// packages) before the agents, for the agents that need it only.
	NeedNode = "node"
	// NeedNpm is Node.js and npm to install with: the agent's install lines
	// run in a build stage of their own that has them, and only what they
	// leave under /usr/local is copied into L1, where the agent's
	// "BINARY --version" must then run without npm.
	NeedNpm = "npm"
)

// Needs lists what a roster entry's needs may name.
var Needs = []string{NeedNode, NeedNpm}

// Need reports whether the agent's roster entry names need.
func (a *Agent) Need(need string) bool { return slices.Contains(a.Needs, need) }

// Install holds the shell command lines that install the agent, run as
// root in the L1 build, per package family. A family the entry does not
// name cannot have the agent; an empty list installs nothing.
type Install struct {
	Deb *[]string `toml:"deb"`
	Rpm *[]string `toml:"rpm"`
}

// Mode is how the agent starts in one launch mode.
type Mode struct {
	Binary  string   `toml:"binary"`  // default: the agent's binary
	Args    []string `toml:"args"`    // with "{prompt}" and "{flags}" elements
	Model   []string `toml:"model"`   // flags choosing a model, with "{model}"
	Timeout []string `toml:"timeout"` // the agent's own time-limit flags, with "{timeout}" (seconds)
	// Resume are the arguments that make a headless run continue the
	// agent's last session in the workspace (a followup), put just before
	// the prompt. Empty: the agent cannot resume; a followup starts afresh.
	Resume []string `toml:"resume"`
}

// Permissions switch off the agent's own permission prompts: terok's
// container is the boundary.
type Permissions struct {
	Flags []string          `toml:"flags"`
	Env   map[string]string `toml:"env"`
}

// Vault names the credential the agent uses: the vault provider, the
// environment variable that carries its (phantom) token, and the one that
// points the agent at the vault instead of its vendor.
type Vault struct {
	Provider   string `toml:"provider"`
	TokenEnv   string `toml:"token_env"`
	BaseURLEnv string `toml:"base_url_env"`
	// OAuthTokenEnv, if set, carries the phantom instead of TokenEnv when
	// the provider's credential in the vault is an OAuth one (Claude Code:
	// CLAUDE_CODE_OAUTH_TOKEN, which it sends as a bearer token).
	OAuthTokenEnv string `toml:"oauth_token_env"`
	// BasePath, if set, is what the agent's base URL ends with instead of
	// the route's base path: SDKs differ (Claude Code appends /v1 itself;
	// OpenCode's AI SDK wants it in the base URL).
	BasePath string `toml:"base_path"`
	// Env are variables set only behind the vault, after the phantom's
	// and the base URL's; "{base_url}" in a value becomes the agent's base
	// URL (for an agent that takes it inside a setting of its own: Vibe's
	// providers, as JSON).
	Env map[string]string `toml:"env"`
	// Unsupported says why the agent cannot run behind the vault (it
	// cannot be pointed at a base URL): such an agent would need the real
	// credential, so a task refuses it unless its project lists it in
	// project.toml [vault] unvaulted.
	Unsupported string `toml:"unsupported"`
}

// Login is the agent's own sign-in, which `terok-vault login` runs in a
// throwaway container: its arguments (after the agent's binary), the
// credential file it writes (a path in the agent's home), and the hosts it
// must reach — its provider's sign-in and token hosts, the only ones the
// container's shield lets it reach.
type Login struct {
	Args  []string `toml:"args"`
	File  string   `toml:"file"`
	Hosts []string `toml:"hosts"`
}

// HasLogin reports whether the roster entry has a [login] table.
func (a *Agent) HasLogin() bool {
	return len(a.Login.Args) > 0 || a.Login.File != "" || len(a.Login.Hosts) > 0
}

// LoginArgv is the command line of the agent's own sign-in.
func (a *Agent) LoginArgv() []string { return append([]string{a.Binary}, a.Login.Args...) }

// Lines returns the install lines for family, and whether the agent can be
// installed there at all.
func (a *Agent) Lines(family string) ([]string, bool) {
	var l *[]string
	switch family {
	case "deb":
		l = a.Install.Deb
	case "rpm":
		l = a.Install.Rpm
	}
	if l == nil {
		return nil, false
	}
	return *l, true
}

// CanResume reports whether a headless run of the agent can continue its
// last session (the roster entry has headless.resume).
func (a *Agent) CanResume() bool { return len(a.Headless.Resume) > 0 }

// Families lists the package families the agent installs on.
func (a *Agent) Families() []string {
	var out []string
	for _, f := range config.Families {
		if _, ok := a.Lines(f); ok {
			out = append(out, f)
		}
	}
	return out
}

// Roster is the set of known agents.
type Roster struct {
	agents map[string]*Agent
}

// Builtin is the roster built into terok.
func Builtin() (*Roster, error) { return Load("") }

// Load reads the built-in roster and then every NAME.toml in dir (if dir is
// not empty and exists), each overriding the keys it sets of the agent of
// its name or adding a new agent.
func Load(dir string) (*Roster, error) {
	r := &Roster{agents: map[string]*Agent{}}
	ents, err := fs.ReadDir(builtin, "roster")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		data, err := builtin.ReadFile("roster/" + e.Name())
		if err != nil {
			return nil, err
		}
		if err := r.add(e.Name(), BuiltinSource, data); err != nil {
			return nil, fmt.Errorf("built-in roster: %w", err)
		}
	}
	if dir != "" {
		if err := r.addDir(dir); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Roster) addDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".toml") || strings.HasPrefix(n, ".") || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, n)
		data, err := readFile(path)
		if err != nil {
			return err
		}
		if err := r.add(n, path, data); err != nil {
			return err
		}
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > config.MaxFileSize {
		return nil, &config.FileError{Path: path, Msg: fmt.Sprintf("larger than %d bytes", config.MaxFileSize)}
	}
	return os.ReadFile(path)
}

// add decodes one roster file over the agent of its name.
func (r *Roster) add(file, source string, data []byte) error {
	name := strings.TrimSuffix(file, ".toml")
	where := source
	if source == BuiltinSource {
		where = "roster/" + file + " (built in)"
	}
	if err := config.ValidAgentName(name); err != nil {
		return &config.FileError{Path: where, Msg: "the file's name is not an agent's name: " + err.Error(),
			Hint: "name roster files NAME.toml, NAME of lower-case letters, digits and hyphens"}
	}
	a, ok := r.agents[name]
	if !ok {
		a = &Agent{Name: name}
	}
	// Decode into a copy: a file that fails leaves the entry as it was.
	c := a.clone()
	if _, err := config.DecodeStrict(where, data, c, keys(), "'terok-image agents' lists the agents; terok-image(1) describes their keys"); err != nil {
		return err
	}
	c.Source = source
	c.file, c.data = where, data
	if err := c.validate(); err != nil {
		return err
	}
	r.agents[name] = c
	return nil
}

func (a *Agent) clone() *Agent {
	c := *a
	c.Needs = slices.Clone(a.Needs)
	c.Env = cloneMap(a.Env)
	c.Permissions.Env = cloneMap(a.Permissions.Env)
	c.Vault.Env = cloneMap(a.Vault.Env)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// keys lists the roster file's keys, for "did you mean" hints.
func keys() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			name := t.Field(i).Tag.Get("toml")
			if name == "" || name == "-" {
				continue
			}
			if ft := t.Field(i).Type; ft.Kind() == reflect.Struct {
				walk(prefix+name+".", ft)
				continue
			}
			out = append(out, prefix+name)
		}
	}
	walk("", reflect.TypeFor[Agent]())
	return out
}

// Get returns the agent of a name.
func (r *Roster) Get(name string) (*Agent, bool) {
	a, ok := r.agents[name]
	return a, ok
}

// Names lists the agents' names, sorted.
func (r *Roster) Names() []string {
	out := make([]string, 0, len(r.agents))
	for n := range r.agents {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// All returns every agent, sorted by name.
func (r *Roster) All() []*Agent {
	var out []*Agent
	for _, n := range r.Names() {
		out = append(out, r.agents[n])
	}
	return out
}

// UnknownError is an agent name the roster does not know.
type UnknownError struct {
	Name  string
	Known []string
}

func (e *UnknownError) Error() string { return fmt.Sprintf("unknown agent %q", e.Name) }

// Hint names the known agents.
func (e *UnknownError) Hint() string {
	return "known agents: " + strings.Join(e.Known, ", ") + " ('terok-image agents' lists them)"
}

// Select checks a list of agent names against the roster and returns it
// sorted and without duplicates, the form in which a set of agents names
// an image.
func (r *Roster) Select(names []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if _, ok := r.agents[n]; !ok {
			return nil, &UnknownError{Name: n, Known: r.Names()}
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

var (
	placeholder = regexp.MustCompile(`\{[a-z_]*\}`)
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate checks an entry as it stands after every file that touches it.
func (a *Agent) validate() error {
	bad := func(key, format string, args ...any) error {
		fe := &config.FileError{Path: a.file, Key: key, Msg: fmt.Sprintf(format, args...)}
		fe.Line = config.KeyLine(a.data, key)
		return fe
	}
	if a.Label == "" {
		a.Label = a.Name
	}
	if strings.ContainsAny(a.Label+a.Description, "\n\r") {
		return bad("label", "label and description must be one line")
	}
	if err := checkBinary(a.Binary); err != nil {
		return bad("binary", "%v", err)
	}
	for i, n := range a.Needs {
		if !slices.Contains(Needs, n) {
			return bad("needs", "%q is nothing an agent can need (known: %s)", n, strings.Join(Needs, ", "))
		}
		if slices.Contains(a.Needs[:i], n) {
			return bad("needs", "%q is named twice", n)
		}
	}
	if a.Install.Deb == nil && a.Install.Rpm == nil {
		return bad("install", "no install lines for any package family (deb or rpm; an empty list installs nothing)")
	}
	for _, f := range config.Families {
		lines, _ := a.Lines(f)
		for _, l := range lines {
			if strings.TrimSpace(l) == "" || strings.ContainsAny(l, "\n\r\x00") {
				return bad("install."+f, "an install line is empty or spans lines: %q (give one command per line)", l)
			}
		}
	}
	for _, m := range []struct {
		key    string
		mode   Mode
		prompt bool // a prompt is required
	}{{"headless", a.Headless, true}, {"interactive", a.Interactive, false}} {
		if m.mode.Binary != "" {
			if err := checkBinary(m.mode.Binary); err != nil {
				return bad(m.key+".binary", "%v", err)
			}
		}
		if err := checkArgs(m.mode.Args, m.prompt); err != nil {
			return bad(m.key+".args", "%v", err)
		}
		if err := checkFlags(m.mode.Model, "{model}"); err != nil {
			return bad(m.key+".model", "%v", err)
		}
		if err := checkFlags(m.mode.Timeout, "{timeout}"); err != nil {
			return bad(m.key+".timeout", "%v", err)
		}
		if err := checkFlags(m.mode.Resume, ""); err != nil {
			return bad(m.key+".resume", "%v", err)
		}
	}
	if len(a.Interactive.Resume) > 0 {
		return bad("interactive.resume", "resume applies to headless runs (followups) only")
	}
	if err := checkFlags(a.Permissions.Flags, ""); err != nil {
		return bad("permissions.flags", "%v", err)
	}
	for key, m := range map[string]map[string]string{"env": a.Env, "permissions.env": a.Permissions.Env, "vault.env": a.Vault.Env} {
		for k, v := range m {
			if !envName.MatchString(k) || strings.HasPrefix(k, "TEROK_") {
				return bad(key, "%q is not an environment variable name an agent may set", k)
			}
			if strings.ContainsRune(v, 0) {
				return bad(key, "%s holds a NUL byte", k)
			}
		}
	}
	for key, v := range map[string]string{"vault.token_env": a.Vault.TokenEnv, "vault.base_url_env": a.Vault.BaseURLEnv,
		"vault.oauth_token_env": a.Vault.OAuthTokenEnv} {
		if v != "" && (!envName.MatchString(v) || strings.HasPrefix(v, "TEROK_")) {
			return bad(key, "%q is not an environment variable name an agent may set", v)
		}
	}
	if bp := a.Vault.BasePath; bp != "" && (!strings.HasPrefix(bp, "/") || path.Clean(bp) != bp || strings.ContainsAny(bp, " \t\n\r\x00?#%")) {
		return bad("vault.base_path", "%q: a clean absolute path, like /v1", bp)
	}
	if strings.ContainsAny(a.Vault.Unsupported, "\n\r") {
		return bad("vault.unsupported", "the reason must be one line")
	}
	if a.Vault.Provider != "" {
		if config.ValidAgentName(a.Vault.Provider) != nil {
			return bad("vault.provider", "invalid provider name %q", a.Vault.Provider)
		}
		if a.Vault.TokenEnv == "" {
			return bad("vault.token_env", "a vault provider needs the variable that carries its token")
		}
		if a.Vault.Unsupported != "" {
			return bad("vault.unsupported", "an agent with a vault provider runs behind the vault; unsupported is for agents without one")
		}
	} else if a.Vault.TokenEnv != "" || a.Vault.BaseURLEnv != "" || a.Vault.OAuthTokenEnv != "" || a.Vault.BasePath != "" || len(a.Vault.Env) > 0 {
		return bad("vault.provider", "vault variables without a provider")
	}
	if a.HasLogin() {
		if err := a.validateLogin(bad); err != nil {
			return err
		}
	}
	return nil
}

// validateLogin checks the [login] table: a provider to store the
// credential for, arguments, a file in the agent's home, and the hosts as
// domain names.
func (a *Agent) validateLogin(bad func(key, format string, args ...any) error) error {
	if a.Vault.Provider == "" {
		return bad("login", "a login stores a credential for the agent's vault provider, and the agent has none ([vault] provider)")
	}
	if len(a.Login.Args) == 0 {
		return bad("login.args", "no arguments: the login runs the agent's binary with them")
	}
	for _, arg := range a.Login.Args {
		if strings.ContainsRune(arg, 0) {
			return bad("login.args", "an argument holds a NUL byte")
		}
		if p := placeholder.FindString(arg); p != "" {
			return bad("login.args", "a login takes no placeholder (%s)", p)
		}
	}
	f := a.Login.File
	if f == "" || filepath.IsAbs(f) || filepath.Clean(f) != f || f == "." || strings.HasPrefix(f, "../") || f == ".." ||
		strings.ContainsAny(f, "\x00\n\r") {
		return bad("login.file", "%q: the credential file's path in the agent's home, relative and clean (like .claude/.credentials.json)", f)
	}
	if len(a.Login.Hosts) == 0 {
		return bad("login.hosts", "no hosts: the login's container reaches only these (its provider's sign-in and token hosts)")
	}
	for _, h := range a.Login.Hosts {
		t, err := config.ParseTarget(h)
		if err != nil {
			return bad("login.hosts", "%v", err)
		}
		if t.Kind != config.TargetDomain && t.Kind != config.TargetWildcard {
			return bad("login.hosts", "%q: a host name (or *.domain), not an address", h)
		}
	}
	return nil
}

func checkBinary(b string) error {
	if b == "" {
		return errors.New("no binary")
	}
	if strings.ContainsAny(b, " \t\n\r\x00") || strings.HasPrefix(b, "-") {
		return fmt.Errorf("binary %q: a program name or absolute path, without spaces", b)
	}
	if strings.Contains(b, "/") && !filepath.IsAbs(b) {
		return fmt.Errorf("binary %q: a relative path; give a name on PATH or an absolute path", b)
	}
	return nil
}

func checkArgs(args []string, needPrompt bool) error {
	n := map[string]int{}
	for _, a := range args {
		for _, p := range placeholder.FindAllString(a, -1) {
			if p != a {
				return fmt.Errorf("%s must be a whole argument, not part of %q", p, a)
			}
			if p != "{prompt}" && p != "{flags}" {
				return fmt.Errorf("unknown placeholder %s (args take {prompt} and {flags})", p)
			}
			n[p]++
		}
		if strings.ContainsRune(a, 0) {
			return errors.New("an argument holds a NUL byte")
		}
	}
	if n["{prompt}"] > 1 || n["{flags}"] > 1 {
		return errors.New("{prompt} and {flags} may each appear once")
	}
	if needPrompt && n["{prompt}"] == 0 {
		return errors.New("no {prompt} argument: a headless agent must be given its prompt")
	}
	return nil
}

func checkFlags(flags []string, want string) error {
	found := false
	for _, f := range flags {
		for _, p := range placeholder.FindAllString(f, -1) {
			if p != want {
				return fmt.Errorf("unknown placeholder %s here", p)
			}
			found = true
		}
		if strings.ContainsRune(f, 0) {
			return errors.New("a flag holds a NUL byte")
		}
	}
	if len(flags) > 0 && want != "" && !found {
		return fmt.Errorf("no %s in the flags", want)
	}
	return nil
}
