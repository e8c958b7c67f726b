package gatecmd

import "github.com/terok-ai/terok-go/lib/cli"

var sections = []cli.Section{
	{Title: "REF", Body: `log, diff and promote take a REF naming one branch of a gate, looked up in this order:

  PROJECT/BRANCH  the branch of that project's gate (what ls prints as ref)
  TASK  a task id, or a unique prefix of one: the one branch that task created (an error lists them when it created several)
  BRANCH  a branch name, when exactly one project's gate has it

With --project, REF is looked up in that project only. A REF of - reads REFs from stdin, one per line, bare or as JSON objects (their ref, id or task field), so that ls pipes into them.`},
	{Title: "POLICY", Body: `The gate decides each ref of a push before git receives anything, and a refused ref reaches the pushing git as "remote rejected (reason)" and as a "remote: terok-gate:" line. The other refs of the push still apply, unless the client asked for --atomic. A task may:

  create  a new branch (refs/heads/), or a new tag when gate.allow_tags is set
  update, force-push, delete  only a branch or tag it created through the gate; a forced update or a delete first keeps the old tip as a backup

A task may never change the project's default branch or a branch matching gate.protected, a branch that came from upstream or another task, anything under refs/terok/ (terok's own: backups and the upstream's snapshot, never shown to tasks), or any other kind of ref; a push larger than gate.max_push_size is refused whole. Hooks, config and attributes in a repository never run on the host: the mirror's config is terok's, its hooks point at /dev/null, and review reads git objects only.`},
	{Title: "SYNC", Body: `sync creates the mirror on first use (from the upstream with your own git and credentials, or, without upstream, with an initial empty commit on the default branch), then brings it up to date. New upstream branches and fast-forwards apply. A branch that upstream deleted or rewrote is pending: it is printed with "pending": true and how many commits it would lose, and changes only with --apply, after a backup. Branches only the gate has (the tasks') are never touched.`},
	{Title: "JSON FIELDS", Body: `sync prints one object per changed branch:

  project  the project
  branch  the branch
  action  created, fast-forward, rewrite, delete, or seeded (a mirror without upstream)
  applied  whether the gate's branch changed
  pending  whether the change waits for --apply
  old  the gate's commit before ("0000..." for none)
  new  the upstream's commit ("0000..." when upstream deleted the branch)
  lost  commits of the gate's branch that no other branch keeps, which the change discards
  backup  the backup id of the old tip, when an applied change replaced it

ls prints one object per branch:

  project  the project
  branch  the branch
  ref  PROJECT/BRANCH, what log, diff and promote take
  task  the task that created the branch through the gate, or ""
  commit  its tip
  ahead  commits on it that the default branch lacks
  behind  commits on the default branch that it lacks
  time  the tip's commit time
  author  the tip's author
  subject  the tip's first message line
  default  whether it is the project's default branch
  protected  whether tasks may not change it

log prints one object per commit, newest first:

  project  the project
  ref  PROJECT/BRANCH
  commit  the commit id
  parents  its parents' ids
  author, author_email, author_time  who wrote it, when
  committer, committer_email, commit_time  who committed it, when
  subject  the first line of its message
  message  the whole message

diff prints one object per changed file:

  project  the project
  ref  PROJECT/BRANCH
  path  the file's path
  old_path  its path before, for a rename
  status  added, modified, deleted or renamed
  old_mode, new_mode  git's file modes (100644, 100755, 120000 a symbolic link, 160000 a submodule)
  insertions, deletions  lines added and removed
  binary  whether the file is binary (or larger than 8 MiB): no lines counted

promote prints one object per promotion:

  project  the project
  ref  PROJECT/BRANCH promoted
  branch  the gate's branch
  to  the upstream branch pushed to
  upstream  the upstream
  commit  the commit pushed
  old  the upstream branch's commit before ("0000..." for a new branch)
  commits  commits the upstream lacked
  lost  upstream commits a forced promotion discarded
  fast_forward  whether it was a fast-forward
  forced  whether --force replaced the upstream branch
  pushed  whether anything was pushed (false when upstream already had it)

backups and prune print one object per backup (prune: those it removed, or would with --dry-run):

  id  PROJECT/STAMP-XXXXXX, what restore takes
  project  the project
  ref  the ref it was the tip of
  branch  that ref's branch name, for a branch
  commit  the commit it keeps
  time  when it was made (UTC)
  reason  force-push, delete, sync-rewrite, sync-delete or restore
  task  the task whose push replaced it, for force-push and delete

restore prints one object per backup restored:

  id  the backup
  project  the project
  ref  the ref set back to its commit
  commit  that commit
  saved  the backup id of the tip it replaced, if any

serve prints a "listening" object first, then one object per decision (the audit entries below):

  type  listening
  project  the project served
  task  the task its token stands for
  address  the address it listens on
  url  the clone URL

AUDIT LOG: STATE/audit/gate.jsonl (see 'terok-project config paths') has one object per decision of every gate; serve prints them too:

  time  when (UTC)
  type  push, auth (a wrong token), sync, promote, restore, prune, error
  project  the project
  task  the task that pushed
  ref  the full ref name
  old, new  the ref's commit before and after (asked for, for a refused push)
  forced  whether a push or sync replaced commits (not a fast-forward)
  accepted  whether it applied
  reason  why it was refused, or what a sync did
  backup  the backup kept of the old tip
  remote  the client's address, for pushes
  upstream  the upstream (and branch) of a sync or promotion`},
	{Title: "FILES", Body: `  DATA/gate/PROJECT.git  the project's mirror, a bare repository
  STATE/gate/PROJECT/owners.json  which task created which branch
  STATE/gate/PROJECT/backups.json  why each backup was made
  STATE/audit/gate.jsonl  the audit log`},
	{Title: "EXAMPLES", Body: `Create the mirror, serve it to a task by hand, and clone it:

  terok-gate sync demo
  head -c 24 /dev/urandom | base64 > token; chmod 600 token
  terok-gate serve demo --listen 127.0.0.1:9418 --token-file token --task t1 &
  git clone "http://$(cat token)@127.0.0.1:9418/demo.git"

Review what a task pushed, then promote it:

  terok-gate ls demo | jq -r 'select(.task != "") | .ref'
  terok-gate log k3x9
  terok-gate diff k3x9 --patch
  terok-gate promote k3x9 --yes

Bring back what a force-push replaced:

  terok-gate backups demo | jq -r 'select(.reason == "force-push") | .id' | terok-gate restore -`},
}
