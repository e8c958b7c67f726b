package task

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
)

func TestNewIDIsValidAndUnambiguous(t *testing.T) {
	seen := map[string]bool{}
	for range 5000 {
		id := NewID()
		if err := ValidID(id); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(id, "01ilo") {
			t.Fatalf("look-alike character in %s", id)
		}
		if seen[id] {
			t.Fatalf("repeated id %s", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "ABCDEFGH", "abc", "abcdefghj", "abcd/efg", "0bcdefgh", "../../x"} {
		if ValidID(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStoreCreateResolveUpdateArchive(t *testing.T) {
	dir := t.TempDir()
	s := Store{Dir: filepath.Join(dir, "tasks")}
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := Record{Project: "demo", Agent: "command"}
			if err := s.Create(&r); err != nil {
				t.Error(err)
			}
			ids <- r.ID
		}()
	}
	wg.Wait()
	close(ids)
	all, _ := s.IDs()
	if len(all) != 20 {
		t.Fatalf("%d records, want 20", len(all))
	}
	first := all[0]
	got, err := s.Resolve(first[:IDLen])
	if err != nil || got != first {
		t.Fatalf("resolve full: %v %v", got, err)
	}
	// The shortest unique prefix resolves; a shared one is ambiguous.
	for n := 1; n <= IDLen; n++ {
		matches := 0
		for _, id := range all {
			if strings.HasPrefix(id, first[:n]) {
				matches++
			}
		}
		_, err := s.Resolve(first[:n])
		if matches > 1 && !errors.Is(err, ErrAmbiguous) || matches == 1 && err != nil {
			t.Fatalf("prefix %s (%d matches): %v", first[:n], matches, err)
		}
	}
	if _, err := s.Resolve("zzzzzzzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := s.Resolve("../x"); err == nil {
		t.Fatal("bad prefix accepted")
	}
	code := 3
	if err := s.Update(first, func(r *Record) error { r.ExitCode = &code; return nil }); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Load(first)
	if r.ExitCode == nil || *r.ExitCode != 3 {
		t.Fatalf("update lost: %+v", r)
	}
	arch, err := s.Archive(first, filepath.Join(dir, "archive"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(arch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(first); !errors.Is(err, ErrNotFound) {
		t.Fatalf("archived task still loads: %v", err)
	}
}

func TestDerive(t *testing.T) {
	code3 := 3
	for _, tc := range []struct {
		rec  Record
		c    *engine.ContainerState
		want Status
		code int
	}{
		{Record{Mode: "headless"}, &engine.ContainerState{Status: "running"}, Running, -1},
		{Record{Mode: "headless"}, &engine.ContainerState{Status: "created"}, Created, -1},
		{Record{Mode: "headless"}, &engine.ContainerState{Status: "exited"}, Exited, 0},
		{Record{Mode: "headless"}, &engine.ContainerState{Status: "exited", ExitCode: 3}, Failed, 3},
		{Record{Mode: "headless"}, &engine.ContainerState{Status: "exited", ExitCode: 124}, TimedOut, 124},
		{Record{Mode: "headless", TimedOut: true}, &engine.ContainerState{Status: "exited", ExitCode: 137}, TimedOut, 124},
		{Record{Mode: "headless", Stopped: true}, &engine.ContainerState{Status: "exited", ExitCode: 143}, Stopped, 143},
		{Record{Mode: "headless", ExitCode: &code3}, nil, Missing, 3},
		// The live state wins over the record.
		{Record{Mode: "headless", ExitCode: &code3}, &engine.ContainerState{Status: "running"}, Running, -1},
	} {
		got, code := Derive(tc.rec, tc.c)
		if got != tc.want || code != tc.code {
			t.Errorf("%+v %+v: got %s %d, want %s %d", tc.rec, tc.c, got, code, tc.want, tc.code)
		}
	}
}

func TestHardeningDefaultsAndOptOuts(t *testing.T) {
	g, p := config.DefaultGlobal(), config.DefaultProject()
	h := HardeningFor(g, p, false)
	if h.UserNS != "auto" || !h.NoNewPrivileges || len(h.CapAdd) != 0 || h.CapDrop[0] != "ALL" || !h.Init ||
		h.PidsLimit != 4096 || h.MemoryBytes != 4<<30 || h.CPUs != 2 || len(h.OptOuts) != 0 {
		t.Fatalf("defaults: %+v", h)
	}
	if h := HardeningFor(g, p, true); h.UserNS != "keep-id:uid=1000,gid=1000" {
		t.Fatalf("rootless userns %q", h.UserNS)
	}
	p.Run.CapAdd = []string{"NET_BIND_SERVICE", "CHOWN", "CHOWN"}
	p.Run.NoNewPrivileges = false
	p.Run.PidsLimit = 100
	h = HardeningFor(g, p, false)
	if strings.Join(h.CapAdd, ",") != "CHOWN,NET_BIND_SERVICE" || h.NoNewPrivileges || h.PidsLimit != 100 || len(h.OptOuts) != 3 {
		t.Fatalf("opt-outs: %+v", h)
	}
	s := Spec(Container{Name: "x", Image: "i", Volume: "v", WorkDir: "/workspace"}, h)
	if *s.NoNewPrivileges || s.CapDrop[0] != "ALL" || len(s.CapAdd) != 2 || s.ResourceLimits.Pids.Limit != 100 {
		t.Fatalf("spec: %+v", s)
	}
	if !s.IDMappings.AutoUserNs || s.IDMappings.AutoUserNsOpts.Size != engine.AutoUserNSSize || s.User != "1000:1000" || *s.Privileged {
		t.Fatalf("spec userns/user: %+v %s", s.IDMappings, s.User)
	}
}
