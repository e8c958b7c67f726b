package gate

import (
	"fmt"
	"path"
	"strings"
)

// Policy is what a task may push to one project's gate.
type Policy struct {
	DefaultBranch string
	Protected     []string // shell patterns of branch names (path.Match)
	AllowTags     bool
	MaxPushSize   int64 // bytes of pack; 0: no limit
}

// IsProtected reports whether branch is protected, and why.
func (p Policy) IsProtected(branch string) (bool, string) {
	if branch == p.DefaultBranch {
		return true, "the project's default branch"
	}
	for _, pat := range p.Protected {
		if ok, _ := path.Match(pat, branch); ok {
			return true, "gate.protected " + pat
		}
	}
	return false, ""
}

// Owners maps a ref to the task that created it through the gate.
type Owners map[string]Owner

// Decide says whether task may apply u. exists is the ref's current
// value in the mirror ("" when absent); owners are the gate's records. It
// returns "" to allow, or the reason for refusing, as the pushing client
// will read it after "remote rejected".
//
// The rules, in order: terok's namespace is never writable; only branches
// and (where allowed) tags may be pushed; protected branches are never
// changed; an existing ref may be changed only by the task that created
// it; a create must really create (the ref must not exist).
func (p Policy) Decide(task string, u RefUpdate, current string, owners Owners) string {
	ref := u.Ref
	switch {
	case strings.HasPrefix(ref, terokPrefix) || ref == "refs/terok":
		return "refs/terok/ is terok's own namespace"
	case strings.HasPrefix(ref, tagsPrefix):
		if !p.AllowTags {
			return "tags are not allowed in this project (gate.allow_tags)"
		}
	case strings.HasPrefix(ref, headsPrefix):
		branch := strings.TrimPrefix(ref, headsPrefix)
		if ValidBranchName(branch) != nil {
			return "invalid branch name (HEAD, or starting with '-')"
		}
		if prot, why := p.IsProtected(branch); prot {
			return fmt.Sprintf("protected branch (%s); push to a new branch", why)
		}
	default:
		return "only branches (refs/heads/) may be pushed"
	}
	kind := "branch"
	if strings.HasPrefix(ref, tagsPrefix) {
		kind = "tag"
	}
	if current == "" {
		if !u.IsCreate() {
			return fmt.Sprintf("no such %s in the gate", kind)
		}
		return ""
	}
	if u.IsCreate() {
		return fmt.Sprintf("%s exists in the gate; push to a new %s", kind, kind)
	}
	o, owned := owners[ref]
	switch {
	case !owned:
		return fmt.Sprintf("%s was not created by a task (it came from upstream or a person); push to a new %s", kind, kind)
	case o.Task != task:
		return fmt.Sprintf("%s belongs to task %s; push to a %s of your own", kind, o.Task, kind)
	case u.Old != current:
		return "stale info: the gate's " + kind + " is at " + short(current) + "; fetch first"
	}
	return ""
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
