package shield

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// ErrNoRuleset: the namespace has no terok table.
var ErrNoRuleset = errors.New("no terok ruleset")

// VerifyError says how the ruleset in force differs from the one expected.
type VerifyError struct{ Reason string }

func (e *VerifyError) Error() string { return "the ruleset was altered: " + e.Reason }

func altered(format string, a ...any) error { return &VerifyError{Reason: fmt.Sprintf(format, a...)} }

// Status is what Verify found besides the ruleset's shape.
type Status struct {
	Alive bool // the warden's heartbeat is current: egress is open as the policy says
}

// Verify reads terok's table back from the namespace and compares it with
// the ruleset Build makes: the chains with their hooks, priorities and
// policies; every rule, expression by expression, in order (the rules of
// either mode, refuse or hold: see Policy.Hold); every set
// with its type and flags; and that the restricted sets still hold every
// restricted range. The contents of the allow, deny and learned sets
// change while a task runs and are not compared (see VerifyPolicy). It
// returns ErrNoRuleset when the table is missing and a *VerifyError when
// anything else differs.
func (c *Conn) Verify() (Status, error) { return c.verify(nil) }

// VerifyPolicy is Verify, and also checks that the allow and deny sets
// hold exactly the addresses and ranges of p (right after Apply(p)).
func (c *Conn) VerifyPolicy(p Policy) (Status, error) { return c.verify(&p) }

func (c *Conn) verify(p *Policy) (Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st Status
	// Without a policy to check against, the rules may be those of any
	// mode: hold or not, name-bound egress (Policy.Forward) or not; the
	// one with as many chains as the table has is checked, hold mode as
	// the alternative.
	want := Build(Policy{})
	alt := Build(Policy{Hold: true})
	if p != nil {
		want, alt = Build(*p), nil
	}
	tables, err := c.nft.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return st, fmt.Errorf("listing tables: %w", err)
	}
	var t *nftables.Table
	for _, x := range tables {
		if x.Name == TableName {
			t = x
		}
	}
	if t == nil {
		return st, ErrNoRuleset
	}

	chains, err := c.nft.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return st, fmt.Errorf("listing chains: %w", err)
	}
	var have []*nftables.Chain
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == TableName {
			have = append(have, ch)
		}
	}
	if p == nil && len(have) != len(want.Chains) {
		if fw := Build(Policy{Forward: true}); len(have) == len(fw.Chains) {
			want, alt = fw, Build(Policy{Forward: true, Hold: true})
		}
	}
	if len(have) != len(want.Chains) {
		return st, altered("%d chains, expected %d", len(have), len(want.Chains))
	}
	for _, w := range want.Chains {
		i := slices.IndexFunc(have, func(h *nftables.Chain) bool { return h.Name == w.Name })
		if i < 0 {
			return st, altered("chain %s is missing", w.Name)
		}
		if err := sameChain(have[i], w); err != nil {
			return st, err
		}
		rules, err := c.nft.GetRules(t, have[i])
		if err != nil {
			return st, fmt.Errorf("listing rules of %s: %w", w.Name, err)
		}
		err = sameRules(rules, want, w.Name)
		if err != nil && alt != nil && sameRules(rules, alt, w.Name) == nil {
			err = nil
		}
		if err != nil {
			return st, err
		}
	}

	sets, err := c.nft.GetSets(t)
	if err != nil {
		return st, fmt.Errorf("listing sets: %w", err)
	}
	if len(sets) != len(want.Sets) {
		return st, altered("%d sets, expected %d", len(sets), len(want.Sets))
	}
	for _, w := range want.Sets {
		i := slices.IndexFunc(sets, func(h *nftables.Set) bool { return h.Name == w.Set.Name })
		if i < 0 {
			return st, altered("set %s is missing", w.Set.Name)
		}
		h := sets[i]
		if h.KeyType.Name != w.Set.KeyType.Name || h.Interval != w.Set.Interval || h.HasTimeout != w.Set.HasTimeout || h.Constant != w.Set.Constant {
			return st, altered("set %s is of type %s (interval %v, timeout %v, constant %v), expected %s (%v, %v, %v)",
				h.Name, h.KeyType.Name, h.Interval, h.HasTimeout, h.Constant,
				w.Set.KeyType.Name, w.Set.Interval, w.Set.HasTimeout, w.Set.Constant)
		}
	}

	for _, name := range []string{SetRestricted4, SetRestricted6} {
		els, err := c.nft.GetSetElements(set(name))
		if err != nil {
			return st, fmt.Errorf("reading set %s: %w", name, err)
		}
		have := spansOf(els, name == SetRestricted4)
		for _, r := range Restricted {
			if r.Addr().Is4() != (name == SetRestricted4) {
				continue
			}
			if !slices.ContainsFunc(have, func(s span) bool { return s.contains(spanOf(r)) }) {
				return st, altered("set %s lacks %s", name, r)
			}
		}
	}
	if p != nil {
		for _, name := range []string{SetAllow4, SetAllow6, SetDeny4, SetDeny6} {
			is4 := name == SetAllow4 || name == SetDeny4
			els, err := c.nft.GetSetElements(set(name))
			if err != nil {
				return st, fmt.Errorf("reading set %s: %w", name, err)
			}
			src := p.Allow
			if name == SetDeny4 || name == SetDeny6 {
				src = p.Deny
			}
			if !equalSpans(spansOf(els, is4), spansOfTargets(src, is4)) {
				return st, altered("set %s does not hold the policy's addresses", name)
			}
		}
	}

	els, err := c.nft.GetSetElements(set(SetAlive))
	if err != nil {
		return st, fmt.Errorf("reading set %s: %w", SetAlive, err)
	}
	st.Alive = hasAlive(els)
	return st, nil
}

// sameRules compares the rules of a chain with those of the chain of that
// name in want.
func sameRules(rules []*nftables.Rule, want *Ruleset, chain string) error {
	var wantRules []*nftables.Rule
	for _, r := range want.Rules {
		if r.Chain.Name == chain {
			wantRules = append(wantRules, r)
		}
	}
	if len(rules) != len(wantRules) {
		return altered("chain %s has %d rules, expected %d", chain, len(rules), len(wantRules))
	}
	for j := range rules {
		if got, exp := Describe(rules[j].Exprs), Describe(wantRules[j].Exprs); got != exp {
			return altered("chain %s rule %d is %q, expected %q", chain, j+1, got, exp)
		}
	}
	return nil
}

func sameChain(h, w *nftables.Chain) error {
	hook := func(c *nftables.Chain) string {
		s := fmt.Sprintf("type %s", c.Type)
		if c.Hooknum != nil {
			name := map[nftables.ChainHook]string{*nftables.ChainHookInput: "input", *nftables.ChainHookOutput: "output",
				*nftables.ChainHookForward: "forward", *nftables.ChainHookPrerouting: "prerouting",
				*nftables.ChainHookPostrouting: "postrouting"}[*c.Hooknum]
			if name == "" {
				name = fmt.Sprint(*c.Hooknum)
			}
			s += " hook " + name
		}
		if c.Priority != nil {
			s += fmt.Sprintf(" priority %d", *c.Priority)
		}
		switch {
		case c.Policy == nil:
		case *c.Policy == nftables.ChainPolicyDrop:
			s += " policy drop"
		case *c.Policy == nftables.ChainPolicyAccept:
			s += " policy accept"
		default:
			s += fmt.Sprintf(" policy %d", *c.Policy)
		}
		return s
	}
	if hook(h) != hook(w) {
		return altered("chain %s is %q, expected %q", w.Name, hook(h), hook(w))
	}
	return nil
}
