package warden_test

import (
	"context"
	"fmt"
	"github.com/terok-ai/terok-go/lib/testenv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
	"github.com/terok-ai/terok-go/lib/warden/gatesvc"
)

// A listener made in a container's network namespace answers the container
// on its loopback, and nobody on the host's.
func TestListenInNetNSServesOnlyTheTask(t *testing.T) {
	_, err := exec.LookPath("podman")
	testenv.Need(t, err == nil, "podman is not installed")
	testenv.Need(t, os.Getuid() == 0, "entering a container's namespace needs root, or for rootless Podman the rootless user namespace (run under podman unshare)")
	p, _ := config.ResolvePaths(os.Getenv, os.Getuid())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := engine.Connect(ctx, engine.OptionsFromConfig(p, config.DefaultGlobal(), os.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	img, _ := e.FirstLocalImage(ctx, "localhost/terok/busybox:latest")
	testenv.Need(t, img != "", "no busybox image; run scripts/setup-host")

	rootless, err := e.Rootless(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := task.NewID()
	s := task.Spec(task.Container{Name: "terok-test-warden-" + id, Image: img,
		Command: []string{"sh", "-c", "sleep 1; for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://127.0.0.1:9418/hello && exit 0; sleep 0.3; done; exit 7"},
		Labels:  map[string]string{task.LabelTask: id}}, task.HardeningFor(config.DefaultGlobal(), config.DefaultProject(), rootless))
	cid, err := e.CreateContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer e.RemoveContainer(context.Background(), cid)
	if err := e.StartContainer(ctx, cid); err != nil {
		t.Fatal(err)
	}
	st, err := e.InspectContainer(ctx, cid)
	if err != nil || st.Pid == 0 {
		t.Fatalf("no pid: %v %+v", err, st)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	w := &warden.Warden{ID: id, Pid: st.Pid, Ready: func() { close(ready) },
		Services: []warden.Service{&gatesvc.Service{Endpoint: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "warden for %s\n", id)
		})}}}
	go func() { done <- w.Run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("warden: %v", err)
	}
	// The host's loopback has nothing of this warden's.
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/hello", warden.GatePort)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), id) {
			t.Fatal("the task's warden answers on the host's loopback")
		}
	}
	code, err := e.WaitContainer(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	e.Logs(ctx, cid, false, "", "", func(s string) { out.WriteString(s) }, func(s string) { out.WriteString(s) })
	if code != 0 || !strings.Contains(out.String(), "warden for "+id) {
		t.Fatalf("the task could not reach its warden: exit %d, output %q", code, out.String())
	}
	// The warden ends with the task.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the warden outlived its task")
	}
}
