package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// MaxFileSize bounds a config file: larger is an error, not an allocation.
const MaxFileSize = 1 << 20

// FileError is a problem in a config file, located as precisely as known.
type FileError struct {
	Path string
	Line int    // 0 when unknown
	Key  string // empty when not about one key
	Msg  string
	Hint string
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadGlobal reads config.toml; a missing file yields the defaults.
func LoadGlobal(path string) (Global, error) {
	g := DefaultGlobal()
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return g, err
	}
	return g, decode(path, "config.toml", data, &g, g.validate)
}

// LoadProject reads a project.toml.
func LoadProject(path string) (Project, error) {
	data, err := readFile(path)
	if err != nil {
		return Project{}, err
	}
	return DecodeProject(path, data)
}

// DecodeProject parses project.toml content; path is used in errors.
func DecodeProject(path string, data []byte) (Project, error) {
	p := DefaultProject()
	return p, decode(path, "project.toml", data, &p, p.validate)
}

// DecodeGlobal parses config.toml content; path is used in errors.
func DecodeGlobal(path string, data []byte) (Global, error) {
	g := DefaultGlobal()
	return g, decode(path, "config.toml", data, &g, g.validate)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, &FileError{Path: path, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	return data, nil
}

var lastKeyErr = lazyRegexp(`^toml: (?:line \d+ )?\(last key "([^"]*)"\): (.*)$`)

// validator checks decoded values; it returns the offending key and message.
type validator func() (key string, err error)

func decode(path, file string, data []byte, v any, check validator) error {
	if _, err := DecodeStrict(path, data, v, keyNames(file), "'terok-project config schema' lists every key"); err != nil {
		return err
	}
	if key, err := check(); err != nil {
		return &FileError{Path: path, Line: keyLine(data, strings.Split(key, ".")), Key: key, Msg: err.Error()}
	}
	return nil
}

// DecodeStrict decodes TOML data (from path, named in errors) into v, the
// way terok's own files are: a syntax or type error, or a key v has no field
// for, is a *FileError naming the file, the line and the key. known lists
// the valid keys for a "did you mean" hint; hint ends the hint line.
func DecodeStrict(path string, data []byte, v any, known []string, hint string) (toml.MetaData, error) {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(v)
	if err != nil {
		return md, syntaxError(path, data, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		fe := &FileError{Path: path, Line: keyLine(data, und[0]), Key: k, Msg: "unknown key", Hint: hint}
		if s := suggest(k, known); s != "" {
			fe.Hint = fmt.Sprintf("did you mean %q? %s", s, hint)
		}
		return md, fe
	}
	return md, nil
}

// KeyLine is the line on which a dotted key is defined in data, or 0.
func KeyLine(data []byte, key string) int { return keyLine(data, strings.Split(key, ".")) }

func syntaxError(path string, data []byte, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if msg == "" {
			msg = pe.Error()
		}
		return &FileError{Path: path, Line: pe.Position.Line, Key: pe.LastKey, Msg: firstLine(msg)}
	}
	// Type mismatches come as plain errors: "toml: line N (last key
	// "k"): message".
	msg := firstLine(err.Error())
	if m := lastKeyErr().FindStringSubmatch(msg); m != nil {
		return &FileError{Path: path, Line: keyLine(data, strings.Split(m[1], ".")), Key: m[1], Msg: m[2]}
	}
	return &FileError{Path: path, Msg: strings.TrimPrefix(msg, "toml: ")}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (g *Global) validate() (string, error) {
	if g.Image.Base != "" {
		if err := ValidImageRef(g.Image.Base); err != nil {
			return "image.base", err
		}
	}
	if err := ValidFamily(g.Image.Family); err != nil {
		return "image.family", err
	}
	if err := validAgents(g.Image.Agents); err != nil {
		return "image.agents", err
	}
	if g.Run.PidsLimit < 0 || g.Run.PidsLimit > 1<<22 {
		return "run.pids_limit", fmt.Errorf("out of range: %d", g.Run.PidsLimit)
	}
	if g.Run.CPUs < 0 || g.Run.CPUs > 1024 {
		return "run.cpus", fmt.Errorf("out of range: %g", g.Run.CPUs)
	}
	if g.Run.Memory != 0 && g.Run.Memory < 16<<20 {
		return "run.memory", fmt.Errorf("below 16m: %s", FormatSize(int64(g.Run.Memory)))
	}
	if g.Podman.Socket != "" && !strings.HasPrefix(g.Podman.Socket, "unix:///") {
		return "podman.socket", fmt.Errorf("not a unix:///path URI: %q", g.Podman.Socket)
	}
	if err := validPatterns(g.Gate.Protected); err != nil {
		return "gate.protected", err
	}
	if g.Gate.MaxPushSize <= 0 {
		return "gate.max_push_size", fmt.Errorf("must be more than 0")
	}
	for _, n := range g.Shield.Profiles {
		if err := ValidProfileName(n); err != nil {
			return "shield.profiles", err
		}
	}
	for _, r := range g.Shield.Resolvers {
		if _, err := ResolverAddr(r); err != nil {
			return "shield.resolvers", err
		}
	}
	if key, err := validClearance(g.Shield.Clearance, g.Shield.HoldTimeout, false); err != nil {
		return key, err
	}
	switch g.Shield.NameBinding {
	case NameBindingRule, NameBindingPolicy, NameBindingOff:
	default:
		return "shield.name_binding", fmt.Errorf("not %q, %q or %q: %q", NameBindingRule, NameBindingPolicy, NameBindingOff, g.Shield.NameBinding)
	}
	for _, p := range g.Shield.AddressPorts {
		if p < 1 || p > 65535 {
			return "shield.address_ports", fmt.Errorf("not a port: %d", p)
		}
	}
	return g.Vault.validate()
}

func (v *GlobalVault) validate() (string, error) {
	if len(v.PassphraseCommand) > 0 && v.PassphraseCommand[0] == "" {
		return "vault.passphrase_command", fmt.Errorf("the program's name is empty")
	}
	if v.PassphraseTimeout <= 0 {
		return "vault.passphrase_timeout", fmt.Errorf("must be more than 0")
	}
	if v.UnlockTTL <= 0 {
		return "vault.unlock_ttl", fmt.Errorf("must be more than 0")
	}
	if v.MaxBody <= 0 {
		return "vault.max_body", fmt.Errorf("must be more than 0")
	}
	names := make([]string, 0, len(v.Providers))
	for n := range v.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		key := "vault.providers." + n
		if err := ValidAgentName(n); err != nil {
			return key, fmt.Errorf("invalid provider name %q", n)
		}
		p := v.Providers[n]
		for k, u := range map[string]string{"upstream": p.Upstream, "oauth_upstream": p.OAuthUpstream, "token_url": p.TokenURL} {
			if u == "" {
				continue
			}
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.User != nil {
				return key + "." + k, fmt.Errorf("not an http(s)://host[:port][/path] URL: %q", u)
			}
		}
		switch p.ErrorShape {
		case "", "anthropic", "openai", "mistral":
		default:
			return key + ".error_shape", fmt.Errorf("not anthropic, openai or mistral: %q", p.ErrorShape)
		}
	}
	return "", nil
}

func (p *Project) validate() (string, error) {
	if err := ValidUpstream(p.Upstream); err != nil {
		return "upstream", err
	}
	if err := ValidBranch(p.Branch); err != nil {
		return "branch", err
	}
	if strings.ContainsAny(p.Description, "\n\r") {
		return "description", fmt.Errorf("must be one line")
	}
	if p.Image.Base != "" {
		if err := ValidImageRef(p.Image.Base); err != nil {
			return "image.base", err
		}
	}
	if err := ValidFamily(p.Image.Family); err != nil {
		return "image.family", err
	}
	if err := validAgents(p.Image.Agents); err != nil {
		return "image.agents", err
	}
	if p.Run.PidsLimit < 0 || p.Run.PidsLimit > 1<<22 {
		return "run.pids_limit", fmt.Errorf("out of range: %d", p.Run.PidsLimit)
	}
	if p.Run.CPUs < 0 || p.Run.CPUs > 1024 {
		return "run.cpus", fmt.Errorf("out of range: %g", p.Run.CPUs)
	}
	if p.Run.Memory != 0 && p.Run.Memory < 16<<20 {
		return "run.memory", fmt.Errorf("below 16m: %s", FormatSize(int64(p.Run.Memory)))
	}
	for _, c := range p.Run.CapAdd {
		if err := ValidCapability(c); err != nil {
			return "run.cap_add", err
		}
	}
	if err := p.Run.GPUs.Validate(); err != nil {
		return "run.gpus", err
	}
	if err := validPatterns(p.Gate.Protected); err != nil {
		return "gate.protected", err
	}
	if line, err := CheckSnippet(p.Image.Snippet); err != nil {
		return "image.snippet", fmt.Errorf("snippet line %d: %w", line, err)
	}
	for _, n := range p.Shield.Profiles {
		if err := ValidProfileName(n); err != nil {
			return "shield.profiles", err
		}
	}
	if err := ValidTargets(p.Shield.Allow); err != nil {
		return "shield.allow", err
	}
	for _, a := range p.Shield.Allow {
		t, _ := ParseTarget(a)
		if err := CheckAllow(t); err != nil {
			return "shield.allow", err
		}
	}
	if err := ValidTargets(p.Shield.Deny); err != nil {
		return "shield.deny", err
	}
	if key, err := validClearance(p.Shield.Clearance, p.Shield.HoldTimeout, true); err != nil {
		return key, err
	}
	for _, n := range p.Vault.Direct {
		if err := ValidAgentName(n); err != nil {
			return "vault.direct", fmt.Errorf("invalid provider name %q", n)
		}
	}
	if err := validAgents(p.Vault.Unvaulted); err != nil {
		return "vault.unvaulted", err
	}
	return "", nil
}

func validAgents(list []string) error {
	seen := map[string]bool{}
	for _, a := range list {
		if err := ValidAgentName(a); err != nil {
			return err
		}
		if seen[a] {
			return fmt.Errorf("agent %q listed twice", a)
		}
		seen[a] = true
	}
	return nil
}

// suggest returns the known key closest to k, if it is close.
func suggest(k string, known []string) string {
	best, bestD := "", 4
	for _, c := range known {
		if d := levenshtein(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// validClearance checks shield.clearance and shield.hold_timeout; a
// project may leave either unset (empty, 0) to take the global one.
func validClearance(mode string, hold Duration, project bool) (string, error) {
	switch mode {
	case ClearanceRefuse, ClearanceHold:
	case "":
		if !project {
			return "shield.clearance", fmt.Errorf("not %q or %q: empty", ClearanceRefuse, ClearanceHold)
		}
	default:
		return "shield.clearance", fmt.Errorf("not %q or %q: %q", ClearanceRefuse, ClearanceHold, mode)
	}
	if hold == 0 && project {
		return "", nil
	}
	if d := hold.D(); d < MinHoldTimeout || d > MaxHoldTimeout {
		return "shield.hold_timeout", fmt.Errorf("from 1s to 5m, not %s", d)
	}
	return "", nil
}
