package gate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	fdiff "github.com/go-git/go-git/v5/plumbing/format/diff"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/utils/diff"
	"github.com/go-git/go-git/v5/utils/merkletrie"
	"github.com/sergi/go-diff/diffmatchpatch"
)

// MaxDiffBlob is the largest blob whose lines a diff compares; larger
// ones count as binary.
const MaxDiffBlob = 8 << 20

// FileChange is one changed file, as `terok-gate diff` prints it.
type FileChange struct {
	Project    string `json:"project"`
	Ref        string `json:"ref"`
	Path       string `json:"path"`
	OldPath    string `json:"old_path,omitempty"`
	Status     string `json:"status"` // added, modified, deleted, renamed
	OldMode    string `json:"old_mode,omitempty"`
	NewMode    string `json:"new_mode,omitempty"`
	Insertions int    `json:"insertions"`
	Deletions  int    `json:"deletions"`
	Binary     bool   `json:"binary"`
}

// DiffResult is what a branch changed since it left its base.
type DiffResult struct {
	Base  string // the merge base's id, "" when there is none
	Tip   string
	Files []FileChange
	Patch fdiff.Patch // only when asked for
}

// Diff compares branch with the point where it left base ("" = the
// default branch): git's "base...branch". Symbolic links and submodules
// are shown as git shows them (the link's target, the submodule's
// commit); nothing is followed.
func (m *Mirror) Diff(ctx context.Context, branch, base string, withPatch bool) (*DiffResult, error) {
	r, err := m.open()
	if err != nil {
		return nil, err
	}
	tip, baseTip, err := m.tips(r, branch, base)
	if err != nil {
		return nil, err
	}
	to, err := r.commit(tip)
	if err != nil {
		return nil, err
	}
	res := &DiffResult{Tip: tip}
	var fromTree *object.Tree
	if baseTip != "" {
		bc, err := r.commit(baseTip)
		if err != nil {
			return nil, err
		}
		mb, err := bc.MergeBase(to)
		if err != nil {
			return nil, err
		}
		if len(mb) > 0 {
			sort.Slice(mb, func(i, j int) bool { return mb[i].Committer.When.After(mb[j].Committer.When) })
			res.Base = mb[0].Hash.String()
			if fromTree, err = mb[0].Tree(); err != nil {
				return nil, err
			}
		}
	} else if len(to.ParentHashes) > 0 && branch == m.Policy.DefaultBranch && base == "" {
		// The default branch against itself: its last commit.
		p, err := to.Parent(0)
		if err != nil {
			return nil, err
		}
		res.Base = p.Hash.String()
		if fromTree, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	toTree, err := to.Tree()
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTreeWithOptions(ctx, fromTree, toTree,
		&object.DiffTreeOptions{DetectRenames: true, OnlyExactRenames: true})
	if err != nil {
		return nil, err
	}
	var fps []fdiff.FilePatch
	for _, c := range changes {
		fc, fp, err := m.fileChange(r, branch, c, withPatch)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, fc)
		if withPatch {
			fps = append(fps, fp)
		}
	}
	sort.Sort(byPath{res.Files, fps})
	if withPatch {
		res.Patch = patch{fps}
	}
	return res, nil
}

type byPath struct {
	f []FileChange
	p []fdiff.FilePatch
}

func (b byPath) Len() int           { return len(b.f) }
func (b byPath) Less(i, j int) bool { return b.f[i].Path < b.f[j].Path }
func (b byPath) Swap(i, j int) {
	b.f[i], b.f[j] = b.f[j], b.f[i]
	if len(b.p) == len(b.f) {
		b.p[i], b.p[j] = b.p[j], b.p[i]
	}
}

func (m *Mirror) fileChange(r *repo, branch string, c *object.Change, withPatch bool) (FileChange, fdiff.FilePatch, error) {
	fc := FileChange{Project: m.Project, Ref: m.Project + "/" + branch}
	action, err := c.Action()
	if err != nil {
		return fc, nil, err
	}
	fp := &filePatch{}
	var fromText, toText string
	var fromBin, toBin bool
	if action != merkletrie.Insert {
		e := c.From.TreeEntry
		fc.OldMode = fmt.Sprintf("%o", uint32(e.Mode))
		fp.from = &patchFile{hash: e.Hash, mode: e.Mode, path: c.From.Name}
		if fromText, fromBin, err = r.content(e); err != nil {
			return fc, nil, err
		}
	}
	if action != merkletrie.Delete {
		e := c.To.TreeEntry
		fc.NewMode = fmt.Sprintf("%o", uint32(e.Mode))
		fp.to = &patchFile{hash: e.Hash, mode: e.Mode, path: c.To.Name}
		if toText, toBin, err = r.content(e); err != nil {
			return fc, nil, err
		}
	}
	switch {
	case action == merkletrie.Insert:
		fc.Status, fc.Path = "added", c.To.Name
	case action == merkletrie.Delete:
		fc.Status, fc.Path = "deleted", c.From.Name
	case c.From.Name != c.To.Name:
		fc.Status, fc.Path, fc.OldPath = "renamed", c.To.Name, c.From.Name
	default:
		fc.Status, fc.Path = "modified", c.To.Name
	}
	fc.Binary = fromBin || toBin
	fp.binary = fc.Binary
	if fc.Binary || fromText == toText {
		return fc, fp, nil
	}
	for _, d := range diff.DoWithTimeout(fromText, toText, 10*time.Second) {
		n := strings.Count(d.Text, "\n")
		if !strings.HasSuffix(d.Text, "\n") {
			n++
		}
		op := fdiff.Equal
		switch d.Type {
		case diffmatchpatch.DiffInsert:
			fc.Insertions += n
			op = fdiff.Add
		case diffmatchpatch.DiffDelete:
			fc.Deletions += n
			op = fdiff.Delete
		}
		if withPatch {
			fp.chunks = append(fp.chunks, chunk{d.Text, op})
		}
	}
	return fc, fp, nil
}

// content returns what a diff compares of a tree entry: a blob's text (a
// symbolic link's target), or "Subproject commit <id>" for a submodule.
// binary is set for blobs with a NUL in their first 8000 bytes or larger
// than MaxDiffBlob.
func (r *repo) content(e object.TreeEntry) (string, bool, error) {
	if e.Mode == filemode.Submodule {
		return "Subproject commit " + e.Hash.String() + "\n", false, nil
	}
	b, err := object.GetBlob(r.st, e.Hash)
	if err != nil {
		return "", false, err
	}
	if b.Size > MaxDiffBlob {
		return "", true, nil
	}
	rd, err := b.Reader()
	if err != nil {
		return "", false, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, MaxDiffBlob+1))
	if err != nil {
		return "", false, err
	}
	if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
		return "", true, nil
	}
	return string(data), false, nil
}

// WritePatch writes a unified diff of res (Diff with withPatch).
func WritePatch(w io.Writer, res *DiffResult) error {
	if res.Patch == nil {
		return fmt.Errorf("no patch")
	}
	return fdiff.NewUnifiedEncoder(w, fdiff.DefaultContextLines).Encode(res.Patch)
}

type patch struct{ files []fdiff.FilePatch }

func (p patch) FilePatches() []fdiff.FilePatch { return p.files }
func (p patch) Message() string                { return "" }

type filePatch struct {
	from, to *patchFile
	binary   bool
	chunks   []fdiff.Chunk
}

func (f *filePatch) IsBinary() bool        { return f.binary }
func (f *filePatch) Chunks() []fdiff.Chunk { return f.chunks }
func (f *filePatch) Files() (fdiff.File, fdiff.File) {
	// A nil *patchFile in an interface is not a nil interface.
	var from, to fdiff.File
	if f.from != nil {
		from = f.from
	}
	if f.to != nil {
		to = f.to
	}
	return from, to
}

type patchFile struct {
	hash plumbing.Hash
	mode filemode.FileMode
	path string
}

func (f *patchFile) Hash() plumbing.Hash     { return f.hash }
func (f *patchFile) Mode() filemode.FileMode { return f.mode }
func (f *patchFile) Path() string            { return f.path }

type chunk struct {
	text string
	op   fdiff.Operation
}

func (c chunk) Content() string       { return c.text }
func (c chunk) Type() fdiff.Operation { return c.op }
