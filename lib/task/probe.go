package task

import (
	"net"
	"os"
	"path/filepath"

	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/shield"
	"github.com/terok-ai/terok-go/lib/store"
)

// ProbeSpec is a task-shaped container for `terok doctor`: the same spec
// builder, hardening (an init process, the user namespace, no capabilities,
// no new privileges, terok's seccomp profile, the resource limits), the
// shield's annotation (so that the OCI hook runs) and a workspace volume
// mounted as tasks mount theirs — with a command of the doctor's own
// instead of the entry point, since the probe's image is not a task image.
// Whatever the host lacks for a task (the init binary, subordinate ids,
// the seccomp profile, the hook) makes this container fail as a task's
// would. name also names the workspace volume.
func ProbeSpec(paths config.Paths, g config.Global, rootless bool, image, name string, command []string) (*specgen.SpecGenerator, error) {
	seccomp, err := SeccompProfile(filepath.Join(paths.Data, "seccomp"))
	if err != nil {
		return nil, err
	}
	s := Spec(Container{
		Name: name, Image: image, Command: command,
		Env: map[string]string{"TEROK_PROBE": "1"},
		// The hook takes only a task id; a fresh one belongs to no task.
		Annotations: map[string]string{shield.Annotation: NewID()},
		DNS:         []net.IP{net.IPv4(127, 0, 0, 1)},
		Volume:      name, WorkDir: Workspace, Seccomp: seccomp,
	}, HardeningFor(g, config.DefaultProject(), rootless))
	s.Entrypoint = []string{}
	return s, nil
}

// EngineLock takes the lock that serialises container changes on this
// host's engine (see Runner.engineLock): for the rootful engine one for the
// host (/run/lock), for a rootless one one per user (XDG_RUNTIME_DIR),
// else one under terok's runtime directory.
func EngineLock(paths config.Paths, getenv func(string) string, rootless bool) (func(), error) {
	dir := filepath.Join(paths.Runtime, "locks", "engine")
	switch x := getenv("XDG_RUNTIME_DIR"); {
	case !rootless && os.Geteuid() == 0:
		dir = filepath.Join("/run/lock", "terok-engine")
	case rootless && x != "":
		dir = filepath.Join(x, "terok-engine")
	}
	return store.Lock(dir)
}
