package websvc

import (
	"context"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/task"
	"github.com/terok-ai/terok-go/lib/warden"
)

// A request with an option the service does not know, or with an engine
// socket that is not a unix one, is refused before anything is served or
// connected.
func TestHandleRefuses(t *testing.T) {
	s := New(&task.Runner{}, "abc12345")
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		targets []string
		want    string
	}{
		{[]string{"engine=unix:///nowhere", "open-the-door"}, "unknown option"},
		{[]string{"engine=tcp://192.0.2.1:8080"}, "not a unix socket"},
		{nil, "not a unix socket"},
	} {
		_, err := s.Handle(context.Background(), warden.Request{Op: OpWeb, Targets: c.targets})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.targets, err, c.want)
		}
	}
	if s.runner != nil {
		t.Error("a refused request connected to an engine")
	}
}
