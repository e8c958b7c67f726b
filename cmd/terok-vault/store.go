package vaultcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/terok-ai/terok-go/lib/cli"
	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/session"
	"github.com/terok-ai/terok-go/lib/vault"
)

// timeFormat is how tables show a time.
const timeFormat = "2006-01-02 15:04"

// InitCmd is `terok-vault init`.
type InitCmd struct {
	PassphraseStdin bool `name:"passphrase-stdin" help:"Read the passphrase from stdin's first line instead of asking (twice) on a terminal."`
}

// Initialized is the JSON line of init.
type Initialized struct {
	Type      string `json:"type"`
	Dir       string `json:"dir"`
	Recipient string `json:"recipient"`
	Recovery  string `json:"recovery"`
}

func (c *InitCmd) Run(env *cli.Env) error {
	s, err := openSession(env, false)
	if err != nil {
		return err
	}
	defer s.Close()
	dir := s.Paths.VaultDir()
	// Refuse before asking for anything.
	st, err := vault.GetStatus(dir)
	if err != nil {
		return mapError(err)
	}
	if st.Initialized {
		return mapError(&vault.ExistsError{Dir: dir})
	}
	pass, err := c.passphrase(env)
	if err != nil {
		return err
	}
	recovery, err := vault.Init(dir, pass, vault.InitOptions{})
	if err != nil {
		return mapError(err)
	}
	st, err = vault.GetStatus(dir)
	if err != nil {
		return mapError(err)
	}
	out := Initialized{Type: "initialized", Dir: dir, Recipient: st.Recipient, Recovery: recovery}
	if env.JSONLines() {
		return cli.Line(env.Stdout, out)
	}
	fmt.Fprintf(env.Stdout, "vault created in %s; recovery passphrase (shown this once; keep it apart from the passphrase, it opens the vault when that is lost): %s\n", dir, recovery)
	return nil
}

// passphrase is the new vault's passphrase: stdin's first line, or asked
// twice on a terminal. Too short a passphrase is refused here, before
// scrypt runs, with the same rule as lib/vault's.
func (c *InitCmd) passphrase(env *cli.Env) (string, error) {
	var pass string
	switch {
	case c.PassphraseStdin:
		p, err := firstLine(env.Stdin, maxSecretLine, "passphrase")
		if err != nil {
			return "", err
		}
		pass = p
	case env.Interactive():
		p, err := env.AskSecret("New vault passphrase", "")
		if err != nil {
			return "", err
		}
		again, err := env.AskSecret("The same passphrase again", "")
		if err != nil {
			return "", err
		}
		if p != again {
			return "", cli.Failf("the two passphrases differ; nothing was created")
		}
		pass = p
	default:
		return "", cli.Usagef("a passphrase is needed and there is no terminal to ask").WithHint("give it on stdin's first line with --passphrase-stdin")
	}
	switch n := utf8.RuneCountInString(pass); {
	case n == 0:
		return "", cli.Usagef("the passphrase is empty; nothing was created")
	case n < vault.MinPassphrase:
		return "", cli.Usagef("the passphrase is shorter than %d characters; nothing was created", vault.MinPassphrase)
	}
	return pass, nil
}

// StatusCmd is `terok-vault status`.
type StatusCmd struct{}

// Status is the JSON line of status.
type Status struct {
	Dir               string `json:"dir"`
	Initialized       bool   `json:"initialized"`
	Recipient         string `json:"recipient,omitempty"`
	Unlocked          bool   `json:"unlocked"`
	UnlockedFor       string `json:"unlocked_for,omitempty"`
	KeyringError      string `json:"keyring_error,omitempty"`
	PassphraseCommand bool   `json:"passphrase_command"`
	Credentials       *int   `json:"credentials,omitempty"`
	Tokens            int    `json:"tokens"`
}

func (StatusCmd) Run(env *cli.Env) error {
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	dir := s.Paths.VaultDir()
	st, err := vault.GetStatus(dir)
	if err != nil {
		return mapError(err)
	}
	out := Status{Dir: dir, Initialized: st.Initialized, Recipient: st.Recipient, Unlocked: st.Cached,
		UnlockedFor: st.CachedFor, KeyringError: st.Keyring, PassphraseCommand: len(s.Global.Vault.PassphraseCommand) > 0}
	toks, err := vault.OpenTokens(s.Paths.VaultTokens()).List("")
	if err != nil {
		return mapError(err)
	}
	out.Tokens = len(toks)
	// The credentials are counted only with the key at hand already: status
	// never asks for a passphrase nor runs passphrase_command.
	if st.Cached {
		store, err := vault.Open(env.Ctx, dir, vault.KeySource{Keyring: true})
		if err == nil {
			creds, err := store.List()
			if err != nil {
				return mapError(err)
			}
			n := len(creds)
			out.Credentials = &n
		}
	}
	return cli.Object(env, out, statusFields(out))
}

func statusFields(st Status) []cli.Field {
	state := "not created ('terok-vault init' creates it)"
	switch {
	case st.Initialized && st.Unlocked && st.UnlockedFor != "":
		state = "unlocked, for " + st.UnlockedFor + " or a little more (as the kernel keyring counts)"
	case st.Initialized && st.Unlocked:
		state = "unlocked"
	case st.Initialized:
		state = "locked"
	}
	creds := "(unlock to count them)"
	if st.Credentials != nil {
		creds = fmt.Sprint(*st.Credentials)
	}
	fields := []cli.Field{{Name: "vault", Value: st.Dir}, {Name: "state", Value: state}}
	if st.Initialized {
		fields = append(fields,
			cli.Field{Name: "passphrase_command", Value: map[bool]string{true: "configured: tasks open it without a prompt", false: "not configured"}[st.PassphraseCommand]},
			cli.Field{Name: "credentials", Value: creds})
	}
	if st.KeyringError != "" {
		fields = append(fields, cli.Field{Name: "keyring", Value: st.KeyringError})
	}
	return append(fields, cli.Field{Name: "live tokens", Value: fmt.Sprint(st.Tokens)})
}

// UnlockCmd is `terok-vault unlock`.
type UnlockCmd struct {
	TTL             config.Duration `name:"ttl" help:"How long the kernel keeps the key (default: vault.unlock_ttl, 8h)." placeholder:"DURATION"`
	PassphraseStdin bool            `name:"passphrase-stdin" help:"Read the passphrase from stdin's first line instead of passphrase_command or a prompt."`
}

// Unlocked is the JSON line of unlock.
type Unlocked struct {
	Type  string    `json:"type"`
	Dir   string    `json:"dir"`
	Until time.Time `json:"until"`
}

func (c *UnlockCmd) Run(env *cli.Env) error {
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	ttl := c.TTL.D()
	if ttl == 0 {
		ttl = s.Global.Vault.UnlockTTL.D()
	}
	// A vault that does not exist is said so before how to ask for its
	// passphrase.
	if st, err := vault.GetStatus(s.Paths.VaultDir()); err != nil {
		return mapError(err)
	} else if !st.Initialized {
		return &vault.NotInitializedError{Dir: s.Paths.VaultDir()}
	}
	ks, err := s.VaultKeySource()
	if err != nil {
		return err
	}
	switch {
	case c.PassphraseStdin:
		ks.Command, ks.Prompt = nil, func(ctx context.Context) (string, error) {
			return firstLine(env.Stdin, maxSecretLine, "passphrase")
		}
	case len(ks.Command) == 0 && ks.Prompt == nil:
		return cli.Usagef("no passphrase: no terminal to ask, and no vault.passphrase_command").WithHint("give it on stdin's first line with --passphrase-stdin")
	}
	if _, err := vault.Unlock(env.Ctx, s.Paths.VaultDir(), ks, ttl); err != nil {
		return mapError(err)
	}
	out := Unlocked{Type: "unlocked", Dir: s.Paths.VaultDir(), Until: time.Now().Add(ttl).UTC().Truncate(time.Second)}
	if env.JSONLines() {
		return cli.Line(env.Stdout, out)
	}
	fmt.Fprintf(env.Stdout, "vault unlocked until %s (%s); 'terok-vault lock' forgets the key sooner\n", out.Until.Local().Format(timeFormat), ttl)
	return nil
}

// LockCmd is `terok-vault lock`.
type LockCmd struct{}

// Locked is the JSON line of lock.
type Locked struct {
	Type string `json:"type"`
	Dir  string `json:"dir"`
}

func (LockCmd) Run(env *cli.Env) error {
	s, err := openSession(env, false)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := vault.Lock(s.Paths.VaultDir()); err != nil {
		return mapError(err)
	}
	out := Locked{Type: "locked", Dir: s.Paths.VaultDir()}
	if env.JSONLines() {
		return cli.Line(env.Stdout, out)
	}
	fmt.Fprintln(env.Stdout, "vault locked: the key is no longer cached; running tasks keep theirs")
	return nil
}

// Stored is the JSON line of set and import.
type Stored struct {
	Type     string     `json:"type"`
	Provider string     `json:"provider"`
	Kind     vault.Kind `json:"kind"`
	Expiry   time.Time  `json:"expiry,omitzero"`
	Source   string     `json:"source"`
	Agents   []string   `json:"agents"`
}

func printStored(env *cli.Env, s *session.Session, out Stored) error {
	agents, err := agentsOf(s, out.Provider)
	if err != nil {
		return err
	}
	out.Agents = agents
	if out.Agents == nil {
		out.Agents = []string{}
	}
	if env.JSONLines() {
		return cli.Line(env.Stdout, out)
	}
	what := "an API key"
	if out.Kind == vault.OAuth {
		what = "an OAuth credential"
	}
	used := "no agent of the roster uses it"
	if len(agents) > 0 {
		used = "used by " + strings.Join(agents, ", ")
	}
	fmt.Fprintf(env.Stdout, "stored %s for %s (%s)\n", what, out.Provider, used)
	return nil
}

// SetCmd is `terok-vault set`.
type SetCmd struct {
	Provider string `arg:"" help:"The provider (terok-vault routes lists them)." completion:"provider"`
}

func (c *SetCmd) Run(env *cli.Env) error {
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := knownProvider(s, c.Provider); err != nil {
		return err
	}
	// Piped, the key is read and checked before the vault opens (which
	// costs a second of scrypt with a passphrase); on a terminal the vault
	// opens first, so that a wrong passphrase costs no pasted key.
	var key string
	if !env.StdinTTY {
		if key, err = c.key(env); err != nil {
			return err
		}
	}
	store, err := s.OpenVault(env.Ctx)
	if err != nil {
		return mapError(err)
	}
	if env.StdinTTY {
		if key, err = c.key(env); err != nil {
			return err
		}
	}
	cred := vault.Credential{Kind: vault.APIKey, APIKey: key, Source: "set"}
	if err := store.Set(c.Provider, cred); err != nil {
		return mapError(err)
	}
	return printStored(env, s, Stored{Type: "set", Provider: c.Provider, Kind: vault.APIKey, Source: cred.Source})
}

// key is the API key: asked on a terminal without echo, else stdin's
// first line, trimmed (a key has no spaces; a pasted one may bring some),
// and checked.
func (c *SetCmd) key(env *cli.Env) (string, error) {
	var key string
	if env.StdinTTY {
		k, err := env.AskSecret("API key for "+c.Provider, "pipe the key into 'terok-vault set "+c.Provider+"' (its first line is taken)")
		if err != nil {
			return "", err
		}
		key = k
	} else {
		k, err := firstLine(env.Stdin, maxSecretLine, "API key")
		if err != nil {
			return "", err
		}
		key = k
	}
	key = strings.TrimSpace(key)
	switch {
	case key == "":
		return "", cli.Usagef("no API key given (stdin's first line is empty); nothing was stored")
	case strings.HasPrefix(key, vault.PhantomPrefix):
		return "", cli.Usagef("that is a terok phantom token, not a real API key; nothing was stored")
	}
	if err := (vault.Credential{Kind: vault.APIKey, APIKey: key}).Check(); err != nil {
		return "", cli.Usagef("%v; nothing was stored", err)
	}
	return key, nil
}

// ImportCmd is `terok-vault import`.
type ImportCmd struct {
	Provider string `arg:"" help:"The provider the file's credential is for (anthropic for Claude Code's, openai for Codex's)." completion:"provider"`
	File     string `arg:"" help:"The agent's credential file, or - to read it from stdin." completion:"file"`
}

func (c *ImportCmd) Run(env *cli.Env) error {
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := knownProvider(s, c.Provider); err != nil {
		return err
	}
	provider, cred, err := c.read(env)
	if err != nil {
		return err
	}
	if provider != c.Provider {
		return cli.Usagef("%s holds a credential for %s, not %s; nothing was stored", c.name(), provider, c.Provider).
			WithHint("terok-vault import %s %s", provider, c.File)
	}
	store, err := s.OpenVault(env.Ctx)
	if err != nil {
		return mapError(err)
	}
	if err := store.Set(c.Provider, cred); err != nil {
		return mapError(err)
	}
	return printStored(env, s, Stored{Type: "imported", Provider: c.Provider, Kind: cred.Kind, Expiry: cred.Expiry, Source: cred.Source})
}

// maxCredentialFile bounds a credential file read from stdin, as
// vault.ReadCredentialFile bounds one read from a path.
const maxCredentialFile = 1 << 20

func (c *ImportCmd) read(env *cli.Env) (string, vault.Credential, error) {
	if c.File != "-" {
		p, cred, err := vault.ReadCredentialFile(c.File)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", cred, cli.NotFoundf("no file %s", c.File)
		case err != nil:
			return "", cred, cli.Usagef("%v; nothing was stored", err)
		}
		return p, cred, nil
	}
	data, err := io.ReadAll(io.LimitReader(env.Stdin, maxCredentialFile+1))
	if err != nil {
		return "", vault.Credential{}, cli.Failf("reading stdin: %v", err)
	}
	if len(data) > maxCredentialFile {
		return "", vault.Credential{}, cli.Usagef("stdin holds more than a credential file (%d bytes at most)", maxCredentialFile)
	}
	p, cred, err := vault.ParseCredentialFile(data)
	if err != nil {
		return "", cred, cli.Usagef("stdin: %v; nothing was stored", err)
	}
	return p, cred, nil
}

func (c *ImportCmd) name() string {
	if c.File == "-" {
		return "stdin"
	}
	return c.File
}

// RmCmd is `terok-vault rm`.
type RmCmd struct {
	Provider string `arg:"" help:"The provider whose credential goes." completion:"provider"`
}

// Removed is the JSON line of rm.
type Removed struct {
	Type     string `json:"type"`
	Provider string `json:"provider"`
}

func (c *RmCmd) Run(env *cli.Env) error {
	if err := vault.ValidProvider(c.Provider); err != nil {
		return cli.Usagef("%v", err)
	}
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	store, err := s.OpenVault(env.Ctx)
	if err != nil {
		return mapError(err)
	}
	var nc *vault.NoCredentialError
	if err := store.Remove(c.Provider); errors.As(err, &nc) {
		return cli.NotFoundf("%v", err).WithHint("'terok-vault ls' lists the stored credentials")
	} else if err != nil {
		return mapError(err)
	}
	out := Removed{Type: "removed", Provider: c.Provider}
	if env.JSONLines() {
		return cli.Line(env.Stdout, out)
	}
	fmt.Fprintf(env.Stdout, "removed the credential for %s\n", c.Provider)
	return nil
}

// LsCmd is `terok-vault ls`.
type LsCmd struct{}

// Credential is the JSON line of ls: what is stored, never the secret.
type Credential struct {
	Provider    string     `json:"provider"`
	Kind        vault.Kind `json:"kind"`
	Expiry      time.Time  `json:"expiry,omitzero"`
	Refreshable bool       `json:"refreshable"`
	Source      string     `json:"source,omitempty"`
	Updated     time.Time  `json:"updated,omitzero"`
	Tasks       []string   `json:"tasks"`
}

var lsColumns = []cli.Column[Credential]{
	{Header: "PROVIDER", Value: func(c Credential) string { return c.Provider }},
	{Header: "KIND", Value: func(c Credential) string { return string(c.Kind) }},
	{Header: "EXPIRES", Value: func(c Credential) string { return when(c.Expiry) }},
	{Header: "SOURCE", Value: func(c Credential) string { return c.Source }},
	{Header: "UPDATED", Value: func(c Credential) string { return when(c.Updated) }},
	{Header: "TASKS", Value: func(c Credential) string { return strings.Join(c.Tasks, ",") }},
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(timeFormat)
}

func (LsCmd) Run(env *cli.Env) error {
	s, err := openSession(env, true)
	if err != nil {
		return err
	}
	defer s.Close()
	store, err := s.OpenVault(env.Ctx)
	if err != nil {
		return mapError(err)
	}
	entries, err := store.List()
	if err != nil {
		return mapError(err)
	}
	toks, err := vault.OpenTokens(s.Paths.VaultTokens()).List("")
	if err != nil {
		return mapError(err)
	}
	out := make([]Credential, 0, len(entries))
	for _, e := range entries {
		c := Credential{Provider: e.Provider, Kind: e.Kind, Expiry: e.Expiry, Refreshable: e.Refreshable,
			Source: e.Source, Updated: e.Updated, Tasks: []string{}}
		for _, t := range toks {
			if t.Provider == e.Provider {
				c.Tasks = append(c.Tasks, t.Task)
			}
		}
		out = append(out, c)
	}
	return cli.List(env, out, lsColumns)
}
