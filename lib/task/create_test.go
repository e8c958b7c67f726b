package task

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/config"
)

// planCreate decides a task from the request and the configuration alone.
func TestPlanCreate(t *testing.T) {
	roster, err := agent.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	g := config.DefaultGlobal() // agents: command; timeout 30m
	proj := func(change func(*config.Project)) config.Project {
		p := config.DefaultProject()
		p.Image.Agents = []string{"command", "claude"}
		if change != nil {
			change(&p)
		}
		return p
	}
	type want struct {
		agent, base, timeout string
		argv                 []string
		env                  map[string]string // keys that must be set
		prompts              int
		optOuts              []string
		userNS               string
		vault                string
	}
	for _, tc := range []struct {
		name     string
		req      Request
		p        config.Project
		rootless bool
		global   func(*config.Global)
		want     want
		err      string
	}{
		{name: "headless, the project's first agent and the global timeout",
			req: Request{Project: "web", Mode: Headless, Prompt: "make test"}, p: proj(nil),
			want: want{agent: "command", base: "main", timeout: "30m0s", prompts: 1, userNS: "auto",
				argv: []string{"timeout", "--kill-after=10", "1800", "sh", "-c", "make test"}}},
		{name: "the project's timeout beats the global one",
			req: Request{Project: "web", Mode: Headless, Prompt: "true"},
			p:   proj(func(p *config.Project) { p.Run.Timeout = config.Duration(90 * time.Second) }),
			want: want{agent: "command", base: "main", timeout: "1m30s", prompts: 1, userNS: "auto",
				argv: []string{"timeout", "--kill-after=10", "90", "sh", "-c", "true"}}},
		{name: "the request's timeout beats the project's",
			req: Request{Project: "web", Mode: Headless, Prompt: "true", Timeout: 5 * time.Second},
			p:   proj(func(p *config.Project) { p.Run.Timeout = config.Duration(90 * time.Second) }),
			want: want{agent: "command", base: "main", timeout: "5s", prompts: 1, userNS: "auto",
				argv: []string{"timeout", "--kill-after=10", "5", "sh", "-c", "true"}}},
		{name: "an agent asked for, with a model, rootless",
			req: Request{Project: "web", Agent: "claude", Mode: Headless, Prompt: "fix it", Model: "m1", Branch: "dev"}, p: proj(nil), rootless: true,
			want: want{agent: "claude", base: "dev", timeout: "30m0s", prompts: 1, userNS: "keep-id:uid=1000,gid=1000",
				argv: []string{"timeout", "--kill-after=10", "1800", "claude", "--dangerously-skip-permissions", "--model", "m1",
					"-p", "fix it", "--output-format", "stream-json", "--verbose"},
				env: map[string]string{"DISABLE_AUTOUPDATER": "1"}, vault: "anthropic"}},
		{name: "an interactive agent reaches its provider through the vault too",
			req: Request{Project: "web", Agent: "claude", Mode: Interactive}, p: proj(nil),
			want: want{agent: "claude", base: "main", userNS: "auto", argv: []string{"claude", "--dangerously-skip-permissions"}, vault: "anthropic"}},
		{name: "an agent that cannot run behind the vault, in a project that lets it",
			req: Request{Project: "web", Agent: "copilot", Mode: Headless, Prompt: "p"},
			p: proj(func(p *config.Project) {
				p.Image.Agents = append(p.Image.Agents, "copilot")
				p.Vault.Unvaulted = []string{"copilot"}
			}),
			want: want{agent: "copilot", base: "main", timeout: "30m0s", prompts: 1, userNS: "auto",
				argv: []string{"timeout", "--kill-after=10", "1800", "copilot", "--allow-all-tools", "-p", "p"}}},
		{name: "a shell whose agent cannot run behind the vault: no agent runs",
			req:  Request{Project: "web", Agent: "copilot", Mode: Shell},
			p:    proj(func(p *config.Project) { p.Image.Agents = append(p.Image.Agents, "copilot") }),
			want: want{agent: "copilot", base: "main", userNS: "auto", argv: []string{"bash", "-l"}}},
		{name: "interactive: no timeout, no prompt on record",
			req: Request{Project: "web", Mode: Interactive}, p: proj(nil),
			want: want{agent: "command", base: "main", userNS: "auto", argv: []string{"bash", "-l"}}},
		{name: "shell: a login shell whatever the agent",
			req: Request{Project: "web", Agent: "claude", Mode: Shell}, p: proj(nil),
			want: want{agent: "claude", base: "main", userNS: "auto", argv: []string{"bash", "-l"}}},
		{name: "the project's opt-outs are on record",
			req: Request{Project: "web", Mode: Shell},
			p: proj(func(p *config.Project) {
				p.Run.CapAdd = []string{"NET_RAW"}
				p.Run.NoNewPrivileges = false
			}),
			want: want{agent: "command", base: "main", userNS: "auto", argv: []string{"bash", "-l"},
				optOuts: []string{"run.cap_add: CAP_NET_RAW", "run.no_new_privileges = false"}}},
		{name: "no agent anywhere",
			req: Request{Project: "web", Mode: Shell},
			p:   proj(func(p *config.Project) { p.Image.Agents = nil }), global: func(g *config.Global) { g.Image.Agents = nil },
			err: "project web names no agent; pass --agent"},
		{name: "an agent the roster does not know",
			req: Request{Project: "web", Agent: "nobody", Mode: Shell}, p: proj(nil), err: `unknown agent "nobody"`},
		{name: "an agent the image does not have",
			req: Request{Project: "web", Agent: "codex", Mode: Shell}, p: proj(nil),
			err: "agent codex is not installed in project web's image (its agents: command, claude)"},
		{name: "headless without a prompt",
			req: Request{Project: "web", Mode: Headless}, p: proj(nil), err: "agent command: a headless run needs a prompt"},
		{name: "a model the agent does not take",
			req: Request{Project: "web", Mode: Headless, Prompt: "x", Model: "m1"}, p: proj(nil), err: "agent command takes no model (headless)"},
		{name: "an agent that cannot run behind the vault, in a project that does not let it",
			req: Request{Project: "web", Agent: "copilot", Mode: Interactive},
			p:   proj(func(p *config.Project) { p.Image.Agents = append(p.Image.Agents, "copilot") }),
			err: "agent copilot cannot run behind the vault (GitHub's Copilot service has no base-URL setting"},
		{name: "a bad base branch",
			req: Request{Project: "web", Mode: Shell, Branch: "a..b"}, p: proj(nil), err: `invalid branch name "a..b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := g
			if tc.global != nil {
				tc.global(&g)
			}
			plan, err := planCreate(tc.req, tc.p, g, roster, tc.rootless)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				var unknown *agent.UnknownError
				if strings.HasPrefix(tc.err, "unknown agent") && !errors.As(err, &unknown) {
					t.Fatalf("error %T, want an agent.UnknownError", err)
				}
				var uv *UnvaultedError
				if errors.As(err, &uv) && (uv.ExitCode() != 2 || !strings.Contains(uv.Hint(), `[vault] unvaulted = ["copilot"]`)) {
					t.Fatalf("unvaulted: exit %d, hint %q", uv.ExitCode(), uv.Hint())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := plan.Record
			if r.ID != "" || r.Image != "" || !r.Created.IsZero() {
				t.Fatalf("the plan has what only making the task gives: %+v", r)
			}
			if r.Project != tc.req.Project || r.Mode != tc.req.Mode || r.Model != tc.req.Model || r.Agent != tc.want.agent ||
				r.BaseBranch != tc.want.base || r.Timeout != tc.want.timeout {
				t.Fatalf("record %+v, want %+v", r, tc.want)
			}
			if len(r.Prompts) != tc.want.prompts || (tc.want.prompts == 1 && (r.Prompts[0].Kind != PromptRun || r.Prompts[0].Text != tc.req.Prompt)) {
				t.Fatalf("prompts %+v", r.Prompts)
			}
			if !reflect.DeepEqual(plan.Argv, tc.want.argv) {
				t.Fatalf("argv %q, want %q", plan.Argv, tc.want.argv)
			}
			for k, v := range tc.want.env {
				if plan.Env[k] != v {
					t.Fatalf("env %v, want %s=%s", plan.Env, k, v)
				}
			}
			if plan.Env == nil {
				t.Fatal("nil environment")
			}
			if want := tc.want.optOuts; want == nil {
				if len(r.Hardening.OptOuts) != 0 {
					t.Fatalf("opt-outs %q", r.Hardening.OptOuts)
				}
			} else if !reflect.DeepEqual(r.Hardening.OptOuts, want) {
				t.Fatalf("opt-outs %q, want %q", r.Hardening.OptOuts, want)
			}
			if r.Vault != tc.want.vault {
				t.Fatalf("vault %q, want %q", r.Vault, tc.want.vault)
			}
			if r.Hardening.UserNS != tc.want.userNS {
				t.Fatalf("userns %q, want %q", r.Hardening.UserNS, tc.want.userNS)
			}
		})
	}
}
