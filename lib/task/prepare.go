package task

import (
	"context"
	"fmt"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
)

// PrepareImage makes, for a rootless user, the engine's copy of image that
// the user's tasks run on, so that the first task does not wait for it.
//
// A rootless task's container maps the agent's uid to the user's own
// (keep-id, HardeningFor); the image's files are stored under the user
// namespace's default mapping. Without idmapped mounts (a rootless user
// has none on overlay), Podman's storage makes a copy of the image with
// every file chowned to the task's mapping when the first container with
// that mapping is created, once per image and mapping: measured 11-13 s
// for a 560 MB image, which the user's first task paid (docs/decisions.md,
// "Start time"). Creating (not starting) such a container makes the copy;
// the container is removed at once. For root (userns=auto, mapped by the
// kernel at mount time) there is nothing to prepare.
func (r *Runner) PrepareImage(ctx context.Context, image string) error {
	if !r.Rootless {
		return nil
	}
	h := HardeningFor(config.DefaultGlobal(), config.DefaultProject(), true)
	s := Spec(Container{Name: engine.ProbeName(), Image: image, Command: []string{"true"},
		Labels: map[string]string{engine.ProbeLabel: "1"}}, h)
	unlock, err := r.engineLock()
	if err != nil {
		return err
	}
	defer unlock()
	id, err := r.Engine.CreateContainer(ctx, s)
	if err != nil {
		return fmt.Errorf("preparing %s for rootless tasks: %w", image, err)
	}
	if err := r.Engine.RemoveContainer(context.Background(), id); err != nil {
		return fmt.Errorf("removing the container that prepared %s: %w", image, err)
	}
	return nil
}
