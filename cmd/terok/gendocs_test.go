package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/terok-ai/terok-go/lib/manual"
)

// docsEdition is what the title line of every man page says. It is a
// constant, not the clock or the build's version, so that the checked-in
// pages stay current until the grammar changes; bump it with a release.
var docsEdition = manual.Edition{Date: "2026-11-27"}

// generatedDirs hold only files that lib/manual makes.
var generatedDirs = []string{"man", "completions"}

// TestDocsCurrent checks that the man pages and completions checked in
// under man/ and completions/ are what the command table and grammars make
// now. With TEROK_UPDATE_DOCS=1 (make man completions) it writes them
// instead, and removes generated files that no command makes any more.
func TestDocsCurrent(t *testing.T) {
	files, err := manual.Files(Host, Commands, docsEdition)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..")
	update := os.Getenv("TEROK_UPDATE_DOCS") == "1"

	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, filepath.FromSlash(p))
		have, err := os.ReadFile(full)
		if err == nil && bytes.Equal(have, []byte(files[p])) {
			continue
		}
		if update {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(files[p]), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", p)
			continue
		}
		if err != nil {
			t.Errorf("%s is missing; run 'make man completions' to generate it", p)
		} else {
			t.Errorf("%s is stale; run 'make man completions' to regenerate it", p)
		}
	}

	for _, dir := range generatedDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(full string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && full == filepath.Join(root, dir) {
				return nil // not generated yet: the files are reported missing above
			}
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, full)
			if err != nil {
				return err
			}
			p := filepath.ToSlash(rel)
			if _, ok := files[p]; ok {
				return nil
			}
			if update {
				t.Logf("removed %s", p)
				return os.Remove(full)
			}
			t.Errorf("%s is made by no command; run 'make man completions' to remove it", p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
