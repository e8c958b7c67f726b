package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/terok-ai/terok-go/lib/store"
)

// ProbeLabel marks the containers terok creates (and never starts) to read
// a file out of an image, so that one left behind can always be found.
const ProbeLabel = "terok.image-probe"

// maxOSRelease bounds the os-release file read out of an image.
const maxOSRelease = 64 << 10

// FamilyRecord is what terok keeps of a base image's distribution.
type FamilyRecord struct {
	ID        string    `json:"id"`
	Family    string    `json:"family"`
	OSRelease OSRelease `json:"os_release"`
	Checked   time.Time `json:"checked"`
}

func (b *Builder) familyFile(id string) string {
	return filepath.Join(b.Paths.ImagesDir(), "families", id+".json")
}

// family returns the package family of an image, by its id: from the
// record kept of it, or read from the image and kept.
func (b *Builder) family(ctx context.Context, id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("unexpected image id %q", id)
	}
	var rec FamilyRecord
	if err := store.ReadJSON(b.familyFile(id), &rec); err == nil && rec.ID == id && rec.Family != "" {
		return rec.Family, nil
	}
	osr, err := ReadOSRelease(ctx, id)
	if err != nil {
		return "", err
	}
	fam, err := osr.Family()
	if err != nil {
		return "", err
	}
	rec = FamilyRecord{ID: id, Family: fam, OSRelease: osr, Checked: time.Now().UTC()}
	// Failing to keep it costs only a second reading next time.
	_ = store.WriteJSON(b.familyFile(id), rec)
	return fam, nil
}

// Family is the package family of an image (by reference), as Build would
// tell it.
func (b *Builder) Family(ctx context.Context, ref string) (string, error) {
	ctx = b.on(ctx)
	img, err := b.inspect(ctx, ref)
	if err != nil {
		return "", err
	}
	if img == nil {
		if fam, ok := FamilyByName(ref); ok {
			return fam, nil
		}
		return "", &BaseMissingError{Base: ref}
	}
	fam, err := b.family(ctx, img.ID)
	if err != nil {
		if byName, ok := FamilyByName(ref); ok {
			return byName, nil
		}
		return "", &FamilyError{Base: ref, Err: err}
	}
	return fam, nil
}

func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// ReadOSRelease reads an image's os-release(5): /etc/os-release, else
// /usr/lib/os-release, copied out of a container of the image that is
// created and removed without ever running (so it works for any image,
// with or without a shell). ctx carries the engine's connection.
func ReadOSRelease(ctx context.Context, image string) (OSRelease, error) {
	s := specgen.NewSpecGenerator(image, false)
	// Never run; a command is needed only because some images name none.
	s.Command = []string{"/terok-never-runs"}
	s.Name = "terok-image-probe-" + randomHex(4)
	s.Labels = map[string]string{ProbeLabel: "1"}
	c, err := containers.CreateWithSpec(ctx, s, nil)
	if err != nil {
		return OSRelease{}, fmt.Errorf("creating a container to read its os-release: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		// The os-release is read either way; a container left behind
		// keeps ProbeLabel, by which it can be found.
		_, _ = containers.Remove(rctx, c.ID, new(containers.RemoveOptions).WithForce(true).WithIgnore(true))
	}()
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := copyFile(ctx, c.ID, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return OSRelease{}, err
		}
		return ParseOSRelease(data), nil
	}
	return OSRelease{}, errors.New("it has neither /etc/os-release nor /usr/lib/os-release")
}

// copyFile reads one regular file out of a container (Podman's archive
// endpoint follows symbolic links).
func copyFile(ctx context.Context, ctr, path string) ([]byte, error) {
	var buf bytes.Buffer
	get, err := containers.CopyToArchive(ctx, ctr, path, &buf)
	if isNotFound(err) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := get(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	tr := tar.NewReader(&buf)
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, fs.ErrNotExist
	}
	data, err := io.ReadAll(io.LimitReader(tr, maxOSRelease))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
