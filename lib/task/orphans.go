package task

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/terok-ai/terok-go/lib/warden"
)

// Orphans are what terok made for tasks of this state tree that no task
// record claims any more (the record, or the whole tree, was deleted
// behind terok's back): containers and volumes labelled with this tree
// (LabelState) and a task id without a record, wardens of this tree
// (their TEROK_STATE_DIR) serving such a task, and control sockets under
// the runtime directory's wardens/ of such a task. Containers and volumes
// made before LabelState existed carry no tree and are never counted:
// another tree's could not be told from them.
type Orphans struct {
	Containers []OrphanContainer `json:"containers,omitempty"`
	Volumes    []OrphanVolume    `json:"volumes,omitempty"`
	Wardens    []OrphanWarden    `json:"wardens,omitempty"`
	Sockets    []string          `json:"sockets,omitempty"`
}

// OrphanContainer is a container of a task without a record.
type OrphanContainer struct {
	ID, Name, Task string
	Running        bool
}

// OrphanVolume is a volume of a task without a record.
type OrphanVolume struct{ Name, Task string }

// OrphanWarden is a warden process of a task without a record.
type OrphanWarden struct {
	PID  int
	Task string
}

// Empty reports whether there is nothing to remove.
func (o Orphans) Empty() bool {
	return len(o.Containers)+len(o.Volumes)+len(o.Wardens)+len(o.Sockets) == 0
}

// Count is how many things there are.
func (o Orphans) Count() int {
	return len(o.Containers) + len(o.Volumes) + len(o.Wardens) + len(o.Sockets)
}

// Lines names each thing, one a line, in the order RemoveOrphans removes
// them.
func (o Orphans) Lines() []string {
	var out []string
	for _, w := range o.Wardens {
		out = append(out, fmt.Sprintf("warden pid %d (task %s)", w.PID, w.Task))
	}
	for _, c := range o.Containers {
		state := "stopped"
		if c.Running {
			state = "running"
		}
		out = append(out, fmt.Sprintf("container %s (task %s, %s)", c.Name, c.Task, state))
	}
	for _, v := range o.Volumes {
		out = append(out, fmt.Sprintf("volume %s (task %s)", v.Name, v.Task))
	}
	for _, s := range o.Sockets {
		out = append(out, "socket "+s)
	}
	return out
}

// FindOrphans lists this state tree's orphans. The runner needs an engine.
func (r *Runner) FindOrphans(ctx context.Context) (Orphans, error) {
	var o Orphans
	ids, err := r.Store().IDs()
	if err != nil {
		return o, err
	}
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
	}
	orphan := func(labels map[string]string) (string, bool) {
		id := labels[LabelTask]
		return id, id != "" && labels[LabelState] == r.Paths.State && !known[id]
	}
	cs, err := r.Engine.ListContainers(ctx, LabelState+"="+r.Paths.State)
	if err != nil {
		return o, err
	}
	for _, c := range cs {
		if id, ok := orphan(c.Labels); ok {
			o.Containers = append(o.Containers, OrphanContainer{ID: c.ID, Name: c.Name, Task: id, Running: c.Running})
		}
	}
	vs, err := r.Engine.ListVolumes(ctx, LabelState+"="+r.Paths.State)
	if err != nil {
		return o, err
	}
	for _, v := range vs {
		if id, ok := orphan(v.Labels); ok {
			o.Volumes = append(o.Volumes, OrphanVolume{Name: v.Name, Task: id})
		}
	}
	o.Wardens = r.orphanWardens(known)
	ours := map[string]bool{}
	for _, w := range o.Wardens {
		ours[w.Task] = true
	}
	o.Sockets = orphanSockets(filepath.Join(r.Paths.Runtime, "wardens"), known, ours)
	sort.Slice(o.Containers, func(i, j int) bool { return o.Containers[i].Name < o.Containers[j].Name })
	sort.Slice(o.Volumes, func(i, j int) bool { return o.Volumes[i].Name < o.Volumes[j].Name })
	return o, nil
}

// orphanWardens are this user's warden processes of this state tree (as
// their environment says: the warden is handed TEROK_STATE_DIR) whose task
// has no record, by the process group they lead (rootless, the podman
// unshare wrapper's, as a record would hold it; see warden.Signal).
func (r *Runner) orphanWardens(known map[string]bool) []OrphanWarden {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	uid := os.Getuid()
	byGroup := map[int]OrphanWarden{}
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", d.Name())
		if fi, err := os.Stat(dir); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != uid {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		id, ok := wardenTask(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"))
		if !ok || known[id] {
			continue
		}
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || !hasEnv(env, "TEROK_STATE_DIR="+r.Paths.State) {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil {
			continue
		}
		// The warden leads a session of its own (warden.Spawn): its
		// group's id is the pid its record would hold.
		byGroup[pgid] = OrphanWarden{PID: pgid, Task: id}
	}
	var out []OrphanWarden
	for _, w := range byGroup {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// wardenTask reads a warden's task id from its command line (warden.Args:
// `terok-warden ID --pid PID`, `terok-task warden ID --pid PID`, `terok
// task warden ID --pid PID`, possibly after podman unshare's own words).
func wardenTask(argv []string) (string, bool) {
	for i, a := range argv {
		if (filepath.Base(a) == warden.BinaryName || a == "warden") && i+2 < len(argv) && argv[i+2] == "--pid" {
			if ValidID(argv[i+1]) == nil {
				return argv[i+1], true
			}
		}
	}
	return "", false
}

// orphanSockets are the control sockets in dir of tasks that are not
// known. A socket that a warden serves is an orphan only when that warden
// is one of this tree's (ours): a runtime directory may be shared with
// another state tree, whose live task it would be.
func orphanSockets(dir string, known, ours map[string]bool) []string {
	var out []string
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	for _, s := range socks {
		id := strings.TrimSuffix(filepath.Base(s), ".sock")
		if ValidID(id) != nil || known[id] {
			continue
		}
		if ours[id] || !answers(s) {
			out = append(out, s)
		}
	}
	return out
}

// answers reports whether something listens on the unix socket at path.
func answers(path string) bool {
	c, err := net.DialTimeout("unix", path, 500*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close() // only the connect mattered
	return true
}

func hasEnv(environ []byte, kv string) bool {
	for _, e := range strings.Split(string(environ), "\x00") {
		if e == kv {
			return true
		}
	}
	return false
}

// RemoveOrphans removes o: each warden is ended (SIGTERM, SIGKILL after
// two seconds), each container removed (stopped first when it runs, its
// exec sessions' conmons with it), each volume and socket removed. It goes
// on past a failure and returns every failure joined.
func (r *Runner) RemoveOrphans(ctx context.Context, o Orphans) error {
	var errs []error
	for _, w := range o.Wardens {
		warden.Signal(w.PID, syscall.SIGTERM)
		deadline := time.Now().Add(2 * time.Second)
		for warden.Alive(w.PID) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if warden.Alive(w.PID) {
			warden.Signal(w.PID, syscall.SIGKILL)
		}
	}
	for _, c := range o.Containers {
		if err := r.Engine.RemoveContainer(ctx, c.ID); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Name, err))
		}
	}
	for _, v := range o.Volumes {
		if err := r.Engine.RemoveVolume(ctx, v.Name); err != nil {
			errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
		}
	}
	for _, s := range o.Sockets {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
