package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Links are followed hop by hop until a command's name appears.
func TestCallNamesFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "terok")
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"terok", "terok-project"}, {"terok-project", "tp"}, {filepath.Join(dir, "tp"), "alias"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	got := callNames(filepath.Join(dir, "alias"))
	want := []string{"alias", "tp", "terok-project", "terok"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("callNames = %v, want %v", got, want)
	}
	c, rest, ok := dispatch([]string{filepath.Join(dir, "alias"), "ls"})
	if !ok || c.Name != "terok-project" || len(rest) != 1 || rest[0] != "ls" {
		t.Fatalf("dispatch through links: %v %v %v", c.Name, rest, ok)
	}
	// A bare name (from PATH) is taken as it is.
	if got := callNames("terok-task"); !reflect.DeepEqual(got, []string{"terok-task"}) {
		t.Fatalf("bare name: %v", got)
	}
	// The first argument names the command when the binary's name does not.
	c, rest, ok = dispatch([]string{"/usr/bin/terok", "project", "show", "x"})
	if !ok || c.Name != "terok-project" || len(rest) != 2 {
		t.Fatalf("dispatch by argument: %v %v %v", c.Name, rest, ok)
	}
	if _, _, ok := dispatch([]string{"/usr/bin/terok", "doctor"}); ok {
		t.Fatal("a host verb was taken for a command")
	}
	// A loop of links ends.
	for _, l := range [][2]string{{"loop2", "loop1"}, {"loop1", "loop2"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(callNames(filepath.Join(dir, "loop1"))); n > 9 {
		t.Fatalf("followed %d hops", n)
	}
}
