package engine

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/testenv"
)

// Podman 4.3.1 cannot mount a container whose automatic user namespace is
// in pieces (the overlay mount is refused, "permission denied");
// CreateContainer gives such a container one range, skipping the gaps
// other containers' removal left.
func TestAutoUserNSRangeIsWhole(t *testing.T) {
	image := needPodman(t)
	testenv.Need(t, os.Geteuid() == 0, "automatic user namespaces are root's here")
	e := connectForTest(t)
	ctx := t.Context()
	spec := func(size uint32) *specgen.SpecGenerator {
		s := specgen.NewSpecGenerator(image, false)
		s.Name = "terok-test-userns-" + randomHex(4)
		s.Command = []string{"true"}
		s.Labels = map[string]string{ProbeLabel: "1"}
		AutoUserNS(s, size)
		return s
	}
	raw := func(size uint32) string {
		r, err := containers.CreateWithSpec(e.on(ctx), spec(size), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.RemoveContainer(context.Background(), r.ID) })
		return r.ID
	}
	// gap leaves the lowest free ids a gap of 1000 below a used range (a
	// container kept until the test ends), as the removal of a container
	// of another size does.
	gap := func() {
		low := raw(1000)
		raw(1000)
		if err := e.RemoveContainer(ctx, low); err != nil {
			t.Fatal(err)
		}
	}
	// What Podman does alone. Other tests' containers may take the gap
	// meanwhile: a few tries.
	split := false
	for try := 0; try < 5 && !split; try++ {
		gap()
		id := raw(AutoUserNSSize)
		uids, _, err := e.idMaps(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if split = !contiguous(uids); split {
			err := e.StartContainer(ctx, id)
			if err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("a container whose ids are in pieces (%v) started, or failed otherwise: %v; "+
					"if this Podman mounts it, createContiguous is not needed", mapStrings(uids), err)
			}
		}
		if err := e.RemoveContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if !split {
		t.Fatal("Podman gave whole ranges across a gap five times: the test could not make one")
	}

	// A placeholder a killed command left behind goes with the next gap.
	left := spec(10)
	left.Labels[holderLabel] = "1"
	lr, err := containers.CreateWithSpec(e.on(ctx), left, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.RemoveContainer(context.Background(), lr.ID) })

	var held []string
	testHookHolders = func(h []string) { held = h }
	t.Cleanup(func() { testHookHolders = nil })
	exercised := false
	for try := 0; try < 5 && !exercised; try++ {
		gap()
		id, err := e.CreateContainer(ctx, spec(AutoUserNSSize))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.RemoveContainer(context.Background(), id) })
		uids, gids, err := e.idMaps(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !contiguous(uids) || !contiguous(gids) || rangeSize(uids) != AutoUserNSSize || rangeSize(gids) != AutoUserNSSize {
			t.Fatalf("CreateContainer gave uids %v, gids %v; want one range of %d", mapStrings(uids), mapStrings(gids), AutoUserNSSize)
		}
		if err := e.StartContainer(ctx, id); err != nil {
			t.Fatalf("starting the container with one range: %v", err)
		}
		if code, err := e.WaitContainer(ctx, id); err != nil || code != 0 {
			t.Fatalf("the container ran `true`: exit %d, %v", code, err)
		}
		exercised = len(held) > 0
		for _, h := range held {
			if _, err := e.InspectContainer(ctx, h); !errors.Is(err, ErrNoSuchContainer) {
				t.Errorf("placeholder %s is still there: %v", h, err)
			}
		}
	}
	if _, err := e.InspectContainer(ctx, lr.ID); !errors.Is(err, ErrNoSuchContainer) {
		t.Errorf("the placeholder a killed command left is still there: %v", err)
	}
	if !exercised {
		t.Error("CreateContainer never met a gap: the placeholders were not exercised")
	}
}

func TestContiguous(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  bool
	}{
		{[]string{"0:2147483647:65536"}, true},
		{[]string{"0:100:1000", "1000:1100:64536"}, true},
		{[]string{"0:2148338661:1024", "1024:2148340709:3072"}, false},
		{[]string{"0:100:1000", "1001:1100:64535"}, false},
		{nil, true},
	} {
		m, err := parseIDMap(tc.lines)
		if err != nil {
			t.Fatal(err)
		}
		if got := contiguous(m); got != tc.want {
			t.Errorf("contiguous(%v) = %v", tc.lines, got)
		}
	}
	for _, bad := range []string{"0:1", "a:1:2", "0:-1:5"} {
		if _, err := parseIDMap([]string{bad}); err == nil {
			t.Errorf("parseIDMap(%q) took it", bad)
		}
	}
}
