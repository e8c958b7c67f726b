package image

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/store"
)

// DefaultsRecord names the record of a build without a project (L0 and L1
// from the global defaults). "default" is a reserved word, never a
// project's name.
const DefaultsRecord = "default"

// Record is the last successful build of a project's chain (or of the
// global defaults): what ls names as an image's users and prune keeps.
type Record struct {
	Result
	Built   time.Time `json:"built"`
	Version string    `json:"version"`
}

// Name is the project, or DefaultsRecord.
func (r Record) Name() string {
	if r.Project == "" {
		return DefaultsRecord
	}
	return r.Project
}

// IDs are the image ids of the chain, base included.
func (r Record) IDs() []string {
	ids := []string{r.BaseID}
	for _, l := range r.Layers {
		ids = append(ids, l.ID)
	}
	return ids
}

func recordsDir(p config.Paths) string { return filepath.Join(p.ImagesDir(), "builds") }

func recordPath(p config.Paths, name string) string {
	return filepath.Join(recordsDir(p), name+".json")
}

func (b *Builder) saveRecord(res Result) error {
	rec := Record{Result: res, Built: time.Now().UTC(), Version: b.Version}
	return store.WriteJSON(recordPath(b.Paths, rec.Name()), rec)
}

// LoadRecord reads the record of a project ("" for the defaults); ok is
// false when there is none.
func LoadRecord(p config.Paths, project string) (Record, bool, error) {
	name := project
	if name == "" {
		name = DefaultsRecord
	}
	var r Record
	err := store.ReadJSON(recordPath(p, name), &r)
	if errors.Is(err, fs.ErrNotExist) {
		return r, false, nil
	}
	return r, err == nil, err
}

// LoadRecords reads every record, sorted by name. A record that cannot be
// read is skipped and reported in bad.
func LoadRecords(p config.Paths) (recs []Record, bad []error, err error) {
	ents, err := os.ReadDir(recordsDir(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || (name != DefaultsRecord && config.ValidName(name) != nil) {
			continue
		}
		var r Record
		if err := store.ReadJSON(filepath.Join(recordsDir(p), e.Name()), &r); err != nil {
			bad = append(bad, err)
			continue
		}
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name() < recs[j].Name() })
	return recs, bad, nil
}

// removeRecord deletes a project's record (under the records' lock).
func removeRecord(p config.Paths, name string) error {
	unlock, err := store.Lock(recordsDir(p))
	if err != nil {
		return err
	}
	defer unlock()
	err = os.Remove(recordPath(p, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
