package task

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/agent"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/image"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/store"
	"github.com/terok-ai/terok-go/lib/warden"
)

// AgentHome is the agent user's home in terok's images, where agents keep
// their sessions and settings. A container that replaces a task's
// container gets the old one's.
const AgentHome = "/home/agent"

// Kinds of prompt.
const (
	PromptRun      = "run"      // the task's first prompt
	PromptFollowup = "followup" // a followup on the same workspace
)

// MaxPromptText bounds the text of a prompt kept in the record (bytes).
const MaxPromptText = 1000

// Prompt is one headless prompt a task ran.
type Prompt struct {
	Kind      string    `json:"kind"` // run or followup
	Time      time.Time `json:"time"`
	Text      string    `json:"text"`                // at most MaxPromptText bytes of it
	Truncated bool      `json:"truncated,omitempty"` // Text is cut short
	Resumed   bool      `json:"resumed,omitempty"`   // the agent continued its session
}

func newPrompt(kind, text string, resumed bool) Prompt {
	p := Prompt{Kind: kind, Time: time.Now().UTC(), Text: text, Resumed: resumed}
	if len(text) > MaxPromptText {
		cut := MaxPromptText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		p.Text, p.Truncated = text[:cut], true
	}
	return p
}

// ErrRunning: the task's container is running, and the operation needs it
// to have ended.
var ErrRunning = errors.New("the task is running")

// taskLabels mark a task's container and volume.
func (r *Runner) taskLabels(rec Record) map[string]string {
	l := map[string]string{LabelTask: rec.ID, LabelProject: rec.Project, "terok.agent": rec.Agent, LabelState: r.Paths.State}
	if rec.Login {
		l[LabelLogin] = rec.Agent
	}
	return l
}

// containerSpec is a task's container: argv under the entry point, env
// (the agent's) plus the task's settings, its workspace, its labels and its
// hardening. Create and every container that replaces a task's use it, so
// that a replacement is made exactly like the first.
func (r *Runner) containerSpec(rec Record, argv []string, env map[string]string, token string) (*specgen.SpecGenerator, error) {
	seccomp, err := SeccompProfile(filepath.Join(r.Paths.Data, "seccomp"))
	if err != nil {
		return nil, err
	}
	e := make(map[string]string, len(env)+10)
	for k, v := range env {
		e[k] = v
	}
	gitName, gitEmail := r.gitIdentity()
	e["TEROK_TASK_ID"] = rec.ID
	e["TEROK_PROJECT"] = rec.Project
	e["TEROK_MODE"] = string(rec.Mode)
	if !rec.Login {
		// A login clones nothing and pushes nothing: without the gate's
		// URL the entry point does neither.
		e["TEROK_GATE_URL"] = fmt.Sprintf("http://127.0.0.1:%d/%s.git", warden.GatePort, rec.Project)
		e["TEROK_GATE_TOKEN"] = token
	}
	e["TEROK_BRANCH"] = rec.Branch
	e["TEROK_BASE_BRANCH"] = rec.BaseBranch
	e["TEROK_GIT_NAME"] = gitName
	e["TEROK_GIT_EMAIL"] = gitEmail
	s := Spec(Container{
		Name: rec.Container, Image: rec.Image,
		Command: append([]string{"--"}, argv...),
		Env:     e,
		Labels:  r.taskLabels(rec),
		// The shield's OCI hook fires on this annotation, before the first
		// process, on every start; the warden's resolver is the only one.
		Annotations: map[string]string{LabelTask: rec.ID, shield.Annotation: rec.ID},
		DNS:         []net.IP{net.IPv4(127, 0, 0, 1)},
		Volume:      rec.Volume, WorkDir: Workspace, Seccomp: seccomp,
		// No mode gives the first process a terminal: interactive tasks
		// keep their program in a tmux session (see session.go).
	}, rec.Hardening)
	s.Entrypoint = []string{EntryPoint}
	return s, nil
}

// EntryPoint is the first process of every task container (the images'
// ENTRYPOINT too; set on the container all the same, so that the command
// is its arguments whatever the image says).
const EntryPoint = "/usr/local/bin/terok-entry"

// agentArgv is the agent's command line in a task container's command:
// what follows "--" (containers made before the entry point was set
// explicitly have "terok-entry --" there).
func agentArgv(cmd []string) ([]string, bool) {
	if len(cmd) > 0 && (cmd[0] == "terok-entry" || cmd[0] == EntryPoint) {
		cmd = cmd[1:]
	}
	if len(cmd) < 2 || cmd[0] != "--" {
		return nil, false
	}
	return cmd[1:], true
}

// taskLock serialises the commands that replace or restart one task, so
// that two of them at once cannot both replace its container.
func (r *Runner) taskLock(id string) (func(), error) {
	return store.Lock(filepath.Join(r.Paths.Runtime, "locks", "task-"+id))
}

// Restart stops a task if it runs (SIGTERM, SIGKILL after grace) and starts
// it again on the same workspace, warden included. With recreate, the
// container is first replaced by a new one of the project's current image
// running the same command (see replace). The container runs its command
// again: for a headless task, its last prompt.
//
// A task that uses the vault always gets a new container (of its own
// image, unless recreate), with a fresh phantom token: see renew.
func (r *Runner) Restart(ctx context.Context, rec Record, recreate bool, grace time.Duration) (Record, error) {
	if rec.Vault != "" {
		// Before anything is stopped: a locked vault changes nothing.
		if _, err := r.openVault(ctx); err != nil {
			return rec, err
		}
	}
	unlock, err := r.taskLock(rec.ID)
	if err != nil {
		return rec, err
	}
	defer unlock()
	if rec, err = r.Store().Load(rec.ID); err != nil {
		return rec, err
	}
	st, err := r.Engine.InspectContainer(ctx, rec.Container)
	if errors.Is(err, engine.ErrNoSuchContainer) {
		return rec, ErrNoContainer
	}
	if err != nil {
		return rec, err
	}
	if st.Running {
		if err := r.Engine.StopContainer(ctx, rec.Container, grace); err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
			return rec, fmt.Errorf("stopping the task: %w", err)
		}
	}
	switch {
	case recreate:
		img, err := r.currentImage(ctx, rec.Project)
		if err != nil {
			return rec, err
		}
		if rec.Vault != "" {
			r.wardenGone(rec)
		}
		if rec, err = r.replace(ctx, rec, img, nil, nil, nil); err != nil {
			return rec, err
		}
	case rec.Vault != "":
		if rec, err = r.renew(ctx, rec); err != nil {
			return rec, err
		}
	}
	r.endWarden(rec)
	return r.Start(ctx, rec)
}

// StartAgain starts a task's stopped container again, warden included.
// A task that uses the vault gets a new container first, with a fresh
// phantom token (see renew); the caller has checked that its container
// exists and does not run.
func (r *Runner) StartAgain(ctx context.Context, rec Record) (Record, error) {
	if rec.Vault == "" {
		return r.Start(ctx, rec)
	}
	if _, err := r.openVault(ctx); err != nil {
		return rec, err
	}
	unlock, err := r.taskLock(rec.ID)
	if err != nil {
		return rec, err
	}
	defer unlock()
	if rec, err = r.Store().Load(rec.ID); err != nil {
		return rec, err
	}
	if rec, err = r.renew(ctx, rec); err != nil {
		return rec, err
	}
	return r.Start(ctx, rec)
}

// renew replaces a stopped vault task's container by one made the same
// way, of the task's image (the project's current one when that is gone),
// with a freshly minted phantom token: its last token died with its
// warden (or its stop), and a revoked token never works again. The
// workspace and the agent's home carry over (see replace). The old
// warden is gone first, since its end revokes the task's tokens.
func (r *Runner) renew(ctx context.Context, rec Record) (Record, error) {
	r.wardenGone(rec)
	img, err := r.taskImage(ctx, rec)
	if err != nil {
		return rec, err
	}
	return r.replace(ctx, rec, img, nil, nil, nil)
}

// taskImage is the task's image when it is still there, else the
// project's current one.
func (r *Runner) taskImage(ctx context.Context, rec Record) (string, error) {
	if found, err := r.Engine.FirstLocalImage(ctx, rec.Image); err != nil {
		return "", err
	} else if found != "" {
		return rec.Image, nil
	}
	return r.currentImage(ctx, rec.Project)
}

// Stop stops a task: it is recorded as stopped by a person, its vault
// tokens are revoked (its warden revokes them as it ends too, unless it
// was killed), and its container is sent SIGTERM, SIGKILL after grace. A
// container that is gone is no error.
func (r *Runner) Stop(ctx context.Context, rec Record, grace time.Duration) error {
	if err := r.Store().Update(rec.ID, func(x *Record) error { x.Stopped = true; return nil }); err != nil {
		return err
	}
	if rec.Vault != "" {
		if err := r.RevokeVault(rec.ID); err != nil {
			return err
		}
	}
	if err := r.Engine.StopContainer(ctx, rec.Container, grace); err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
		return err
	}
	return nil
}

// currentImage is the project's image as it is built now.
func (r *Runner) currentImage(ctx context.Context, proj string) (string, error) {
	img, ok, err := image.LoadRecord(r.Paths, proj)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &ImageMissingError{Project: proj}
	}
	if found, err := r.Engine.FirstLocalImage(ctx, img.Image()); err != nil {
		return "", err
	} else if found == "" {
		return "", &ImageMissingError{Project: proj}
	}
	return img.Image(), nil
}

// endWarden ends the warden of a container that stopped, if it lingers:
// the next start spawns a new one.
func (r *Runner) endWarden(rec Record) {
	if !warden.Alive(rec.WardenPID) {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for warden.Alive(rec.WardenPID) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if warden.Alive(rec.WardenPID) {
		warden.Signal(rec.WardenPID, syscall.SIGTERM)
	}
}

// FollowupRequest is what `terok-task followup` asks for.
type FollowupRequest struct {
	Prompt  string
	Timeout time.Duration // 0 for the configured one
	// BeforeStart, if not nil, is called with the new container made and
	// not yet started (to attach to its output, so that none is lost).
	BeforeStart func(Record) error
}

// Followup runs a new headless prompt on a task's workspace. The task must
// not be running. Podman cannot change a container's command, so the
// container is replaced (see replace) by one that runs the agent headless
// with the new prompt, resuming the agent's session where its roster entry
// says how; the entry point finds the workspace's clone and skips cloning,
// and pushes the task's branch when the agent ends, as after the first
// prompt. The replacement runs the task's image, or the project's current
// one when the task's is gone. The task becomes headless.
//
// A task that uses the vault has it opened first, and its new container
// gets a fresh phantom token.
func (r *Runner) Followup(ctx context.Context, rec Record, req FollowupRequest) (Record, error) {
	if rec.Vault != "" {
		if _, err := r.openVault(ctx); err != nil {
			return rec, err
		}
	}
	unlock, err := r.taskLock(rec.ID)
	if err != nil {
		return rec, err
	}
	defer unlock()
	if rec, err = r.Store().Load(rec.ID); err != nil {
		return rec, err
	}
	if rec.Mode == Shell {
		return rec, fmt.Errorf("task %s is a shell: it has no agent to prompt", rec.ID)
	}
	st, err := r.Engine.InspectContainer(ctx, rec.Container)
	if err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
		return rec, err
	}
	if err == nil && st.Running {
		return rec, fmt.Errorf("%w: %s", ErrRunning, rec.ID)
	}
	p, err := project.Store{Paths: r.Paths}.Load(rec.Project)
	if err != nil {
		return rec, err
	}
	ag, ok := r.Roster.Get(rec.Agent)
	if !ok {
		return rec, &agent.UnknownError{Name: rec.Agent, Known: r.Roster.Names()}
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = p.Run.Timeout.D()
		if timeout == 0 {
			timeout = r.Global.Run.Timeout.D()
		}
	}
	resume := ag.CanResume()
	cmd, err := ag.Command(agent.Launch{Headless: true, Prompt: req.Prompt, Model: rec.Model, Timeout: timeout, Resume: resume})
	if err != nil {
		return rec, err
	}
	img, err := r.taskImage(ctx, rec)
	if err != nil {
		return rec, err
	}
	if rec.Vault != "" {
		r.wardenGone(rec)
	}
	rec, err = r.replace(ctx, rec, img, cmd.Argv, cmd.Env, func(x *Record) {
		x.Mode = Headless
		x.Timeout = timeout.String()
		x.Prompts = append(x.Prompts, newPrompt(PromptFollowup, req.Prompt, resume))
	})
	if err != nil {
		return rec, err
	}
	return r.Start(ctx, rec, req.BeforeStart)
}

// replace puts a new container in place of a task's stopped one: of image
// img, running argv with the agent's env (nil argv: the old container's
// command, and the agent's env from the roster), made like the first one
// (containerSpec) with the task's name, workspace volume, token, branch
// and hardening. The agent's home is carried over from the old container,
// and its output kept in the task's logs directory (ID.output-N.log), before
// the old container is removed. A task that uses the vault gets a freshly
// minted phantom token in the new container. change, if not nil, edits the record that
// the new container is made from; the record is saved with the new image.
// Until the new container exists, a failure leaves the old one in place.
func (r *Runner) replace(ctx context.Context, rec Record, img string, argv []string, env map[string]string, change func(*Record)) (Record, error) {
	old, err := r.Engine.InspectContainer(ctx, rec.Container)
	exists := err == nil
	if err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
		return rec, err
	}
	if exists && old.Running {
		return rec, fmt.Errorf("%w: %s", ErrRunning, rec.ID)
	}
	if argv == nil {
		if !exists {
			return rec, ErrNoContainer
		}
		var ok bool
		if argv, ok = agentArgv(old.Command); !ok {
			return rec, fmt.Errorf("container %s does not run terok's entry point (%q)", rec.Container, old.Command)
		}
		env = map[string]string{}
		if rec.Mode != Shell {
			ag, ok := r.Roster.Get(rec.Agent)
			if !ok {
				return rec, &agent.UnknownError{Name: rec.Agent, Known: r.Roster.Names()}
			}
			env = ag.Environ()
		}
	}
	token, err := r.Token(rec.ID)
	if err != nil {
		return rec, fmt.Errorf("reading the task's token: %w", err)
	}
	next := rec
	next.Image = img
	if change != nil {
		change(&next)
	}
	if next.Vault != "" {
		// A new container, a new phantom token (which revokes the last).
		if env, err = r.vaultEnv(ctx, next, env); err != nil {
			return rec, err
		}
	}
	spec, err := r.containerSpec(next, argv, env, token)
	if err != nil {
		return rec, err
	}

	unlock, err := r.engineLock()
	if err != nil {
		return rec, err
	}
	aside := ""
	if exists {
		// Set the old container aside under another name, so that the new
		// one can take the task's; it comes back if the new one fails.
		b := make([]byte, 4)
		rand.Read(b)
		aside = rec.Container + "-replaced-" + hex.EncodeToString(b)
		if err := r.Engine.RenameContainer(ctx, rec.Container, aside); err != nil {
			unlock()
			return rec, fmt.Errorf("setting the old container aside: %w", err)
		}
	}
	_, err = r.Engine.CreateContainer(ctx, spec)
	unlock()
	if err != nil {
		if exists {
			_ = r.Engine.RenameContainer(context.WithoutCancel(ctx), aside, rec.Container) // undoing: the creation's error is the one to report
		}
		return rec, fmt.Errorf("creating the container: %w", err)
	}
	if exists {
		if err := r.carryHome(ctx, aside, rec.Container); err != nil {
			// Undoing: the carrying's error is the one to report.
			_ = r.Engine.RemoveContainer(context.WithoutCancel(ctx), rec.Container)
			_ = r.Engine.RenameContainer(context.WithoutCancel(ctx), aside, rec.Container)
			return rec, fmt.Errorf("carrying the agent's home over: %w", err)
		}
		if err := r.keepOutput(ctx, rec.ID, aside); err != nil {
			return rec, err
		}
		if err := r.removeContainer(context.WithoutCancel(ctx), aside); err != nil {
			return rec, err
		}
	}
	err = r.Store().Update(rec.ID, func(x *Record) error {
		pid := x.WardenPID
		*x = next
		x.WardenPID = pid
		return nil
	})
	return next, err
}

// carryHome copies the agent's home from one container into another.
// Every terok image has it; Podman 4.3 was seen to find nothing in a
// container it had just stopped (its own cleanup unmounts the container
// meanwhile), so absence is retried for a while before it counts.
func (r *Runner) carryHome(ctx context.Context, from, to string) error {
	for i := 0; ; i++ {
		ok, err := r.Engine.CopyBetween(ctx, from, AgentHome, to, path.Dir(AgentHome), AgentUID, AgentUID)
		switch {
		case ok && err == nil:
			return nil
		case i == 15:
			if err == nil {
				err = fmt.Errorf("container %s has no %s", from, AgentHome)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// keepOutput writes the output of a container being replaced to the next
// free ID.output-N.log in the task's logs directory (rm archives them).
func (r *Runner) keepOutput(ctx context.Context, id, container string) error {
	var out strings.Builder
	err := r.Engine.Logs(ctx, container, false, "", "", func(s string) { out.WriteString(s) }, func(s string) { out.WriteString(s) })
	if err != nil {
		return fmt.Errorf("keeping the replaced container's output: %w", err)
	}
	if err := os.MkdirAll(r.logDir(), 0o700); err != nil {
		return err
	}
	for n := 1; ; n++ {
		f, err := os.OpenFile(filepath.Join(r.logDir(), fmt.Sprintf("%s.output-%d.log", id, n)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = f.WriteString(out.String())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
}

// removeContainer removes a container, retrying while Podman's own cleanup
// of its exit still holds its mounts.
func (r *Runner) removeContainer(ctx context.Context, name string) error {
	for i := 0; ; i++ {
		err := r.Engine.RemoveContainer(ctx, name)
		if err == nil {
			return nil
		}
		if i == 20 || !strings.Contains(err.Error(), "busy") {
			return fmt.Errorf("removing the container: %w", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Exec runs a command inside a running task as the agent's user, in the
// workspace, and returns its exit code. x.User and x.WorkDir are set here.
func (r *Runner) Exec(ctx context.Context, rec Record, x engine.Exec) (int, error) {
	x.User = fmt.Sprintf("%d:%d", AgentUID, AgentUID)
	x.WorkDir = Workspace
	return r.Engine.Exec(ctx, rec.Container, x)
}
