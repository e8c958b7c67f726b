package services

import (
	"context"
	"fmt"

	"github.com/terok-ai/terok-go/lib/gate"
	"github.com/terok-ai/terok-go/lib/gate/endpoint"
	"github.com/terok-ai/terok-go/lib/project"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/gatesvc"
	"github.com/terok-ai/terok-go/lib/warden/shieldsvc"
)

// Serve is the warden process of task id: it runs the task's services
// until the container's process pid exits (or ctx ends). ready is called
// once every service serves.
func Serve(ctx context.Context, r *task.Runner, id string, pid int, ready func()) error {
	rec, err := r.Store().Load(id)
	if err != nil {
		return err
	}
	token, err := r.Token(id)
	if err != nil {
		return fmt.Errorf("reading the task's token: %w", err)
	}
	p, err := project.Store{Paths: r.Paths}.Load(rec.Project)
	if err != nil {
		return err
	}
	m, err := gate.New(r.Paths, rec.Project, p, r.Global, r.Getenv)
	if err != nil {
		return err
	}
	shield := shieldsvc.New(shieldsvc.Config{State: r.ShieldPath(id), Audit: r.ShieldAuditLog(id), Resolvers: r.Global.Shield.Resolvers})
	w := &warden.Warden{
		ID: id, Pid: pid, Control: warden.ControlPath(r.Paths.Runtime, id), Ready: ready,
		// Started in this order, closed in the reverse one. The shield
		// first: the agent starts only once the gate answers, and the gate
		// answers only once the task's policy is applied and verified.
		Services: []warden.Service{
			shield,
			&gatesvc.Service{Endpoint: &endpoint.Endpoint{Mirror: m, Tokens: []endpoint.Token{{Secret: token, Task: id}}}, Closed: shield.Quarantined},
		},
	}
	return w.Run(ctx)
}
