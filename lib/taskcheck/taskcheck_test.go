package taskcheck

import (
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/policy"
)

func TestAgentProcess(t *testing.T) {
	for _, tc := range []struct {
		name, ps string
		want     string // "" for none
	}{
		{"headless", `    1     0 Ss   /run/podman-init -- terok-entry sleep 600
    2     1 S    /bin/sh /usr/local/bin/terok-entry sleep 600
    7     2 S    sleep 600
   30     0 Rs   ps -eo pid=,ppid=,stat=,args=`, "pid 7: sleep 600"},
		{"ended: only the entry point pushing", `    1     0 Ss   /run/podman-init -- terok-entry x
    2     1 S    /bin/sh /usr/local/bin/terok-entry x
    9     2 Z    [sleep] <defunct>
   30     0 Rs   ps -eo pid=,ppid=,stat=,args=`, ""},
		{"interactive", `    1     0 Ss   /run/podman-init -- terok-entry claude
    2     1 S    /bin/sh /usr/local/bin/terok-entry claude
    5     2 S    tmux -f /tmp/tmp.x new-session -d -s terok
    6     1 Ss   tmux -f /tmp/tmp.x new-session -d -s terok
    8     6 Ss+  sh -c f=$1; shift; "$@"; echo $? >"$f" terok-session /tmp/s claude
    9     8 Sl+  claude`, "pid 9: claude"},
		{"interactive, session over", `    1     0 Ss   /run/podman-init -- terok-entry claude
    2     1 S    /bin/sh /usr/local/bin/terok-entry claude
    6     1 Ss   tmux -f /tmp/tmp.x new-session -d -s terok`, ""},
		{"probes from exec are not the task's", `    1     0 Ss   /run/podman-init -- terok-entry x
   40     0 Ss   bash -c probe
   41    40 S    timeout 3 head -c 4`, ""},
		{"no init: the entry point exec'd the agent", `    1     0 Ss   sleep 600
   12     0 Rs   ps`, "pid 1: sleep 600"},
	} {
		got, found := agentProcess(tc.ps)
		if got != tc.want || found != (tc.want != "") {
			t.Errorf("%s: %q %v, want %q", tc.name, got, found, tc.want)
		}
	}
}

func TestAllowedName(t *testing.T) {
	pol := func(allow, deny []string) policy.Policy {
		var p policy.Policy
		for _, a := range allow {
			tg, err := config.ParseTarget(a)
			if err != nil {
				t.Fatal(err)
			}
			p.Allow = append(p.Allow, policy.Entry{Target: tg, Text: a})
		}
		for _, d := range deny {
			tg, _ := config.ParseTarget(d)
			p.Deny = append(p.Deny, policy.Entry{Target: tg, Text: d})
		}
		return p
	}
	for _, tc := range []struct {
		allow, deny []string
		want        string
	}{
		{[]string{"192.0.2.1", "*.example.org", "deb.debian.org"}, nil, "deb.debian.org"},
		{[]string{"deb.debian.org", "x.example"}, []string{"deb.debian.org"}, "x.example"},
		{[]string{"*.example.org"}, nil, "doctor-probe.example.org"},
		{[]string{"192.0.2.0/24"}, nil, ""},
	} {
		if got := allowedName(pol(tc.allow, tc.deny)); got != tc.want {
			t.Errorf("allow %q deny %q: %q, want %q", tc.allow, tc.deny, got, tc.want)
		}
	}
	if pol([]string{"deb.debian.org", "*.debian.org"}, nil).Allowed(ProbeName) {
		t.Errorf("%s is allowed by an ordinary policy", ProbeName)
	}
}
