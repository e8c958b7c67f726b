package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type counter struct {
	N       int      `json:"n"`
	Writers []string `json:"writers"`
	Pad     string   `json:"pad"`
}

// TestHelperProcess is not a test: it is the writer process of
// TestConcurrentProcesses, run as a child of the test binary.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("TEROK_STORE_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	id := os.Getenv("TEROK_STORE_ID")
	n, _ := strconv.Atoi(os.Getenv("TEROK_STORE_N"))
	for i := 0; i < n; i++ {
		if err := increment(path, id); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

func increment(path, id string) error {
	return UpdateJSON(path, func(c *counter, _ bool) error {
		c.N++
		c.Writers = append(c.Writers, id)
		// A large record makes a torn write likely if writes were not atomic.
		c.Pad = strings.Repeat("x", 64<<10+c.N)
		return nil
	})
}

// Many processes increment one record while readers read it: no increment is
// lost and no reader ever sees a torn record.
func TestConcurrentProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counter.json")
	const procs, each = 6, 40
	var cmds []*exec.Cmd
	for p := 0; p < procs; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), "TEROK_STORE_HELPER="+path,
			"TEROK_STORE_ID=p"+strconv.Itoa(p), "TEROK_STORE_N="+strconv.Itoa(each))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	stop := make(chan struct{})
	var torn []error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var c counter
			err := ReadJSON(path, &c)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				torn = append(torn, err)
			}
		}
	}()
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	if len(torn) > 0 {
		t.Fatalf("%d torn reads, first: %v", len(torn), torn[0])
	}
	var c counter
	if err := ReadJSON(path, &c); err != nil {
		t.Fatal(err)
	}
	if c.N != procs*each || len(c.Writers) != procs*each {
		t.Fatalf("lost updates: n=%d writers=%d, want %d", c.N, len(c.Writers), procs*each)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".counter.json.tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// Goroutines of one process exclude each other too (flock is per open file).
func TestConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := increment(path, strconv.Itoa(g)); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	var c counter
	if err := ReadJSON(path, &c); err != nil {
		t.Fatal(err)
	}
	if c.N != 400 {
		t.Fatalf("n=%d, want 400", c.N)
	}
}

func TestCorruptRecordIsNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.json")
	if err := os.WriteFile(path, []byte(`{"n": 1,`), 0o600); err != nil {
		t.Fatal(err)
	}
	var c counter
	err := ReadJSON(path, &c)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != path || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want a CorruptError naming %s", err, path)
	}
	err = UpdateJSON(path, func(c *counter, _ bool) error { c.N = 5; return nil })
	if !errors.As(err, &ce) {
		t.Fatalf("update of a corrupt record: %v", err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != `{"n": 1,` {
		t.Fatalf("corrupt record was overwritten: %q", data)
	}
}

func TestUpdateErrorLeavesRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.json")
	if err := WriteJSON(path, counter{N: 7}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := UpdateJSON(path, func(c *counter, _ bool) error { c.N = 99; return boom }); err != boom {
		t.Fatalf("got %v", err)
	}
	var c counter
	if err := ReadJSON(path, &c); err != nil {
		t.Fatal(err)
	}
	if c.N != 7 {
		t.Fatalf("n=%d after failed update", c.N)
	}
	var m map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
}
