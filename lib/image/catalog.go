package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"

	"github.com/terok-ai/terok-go/lib/config"
	"github.com/terok-ai/terok-go/lib/engine"
	"github.com/terok-ai/terok-go/lib/store"
)

// Catalog reads and tidies the images terok made, in one engine.
type Catalog struct {
	Engine *engine.Engine
	Paths  config.Paths
	// Projects are the projects that exist: only their records (and the
	// defaults') count as users.
	Projects []string
}

// Image is one image terok made, as ls prints it.
type Image struct {
	ID         string    `json:"id"`
	Tag        string    `json:"tag"`
	Layer      string    `json:"layer"`
	Base       string    `json:"base"`
	Family     string    `json:"family"`
	Agents     []string  `json:"agents"`
	Project    string    `json:"project"`
	Hash       string    `json:"hash"`
	Parent     string    `json:"parent"`
	Users      []string  `json:"users"`
	Containers int       `json:"containers"`
	Size       int64     `json:"size"`
	LayerSize  int64     `json:"layer_size"`
	Created    time.Time `json:"created"`
}

// node is an image in the engine's storage, with what terok needs of it.
type node struct {
	sum    *types.ImageSummary
	terok  bool   // carries terok's layer label
	tagged bool   // has a name
	parent string // the layer below (terok.parent), else the storage parent
}

// graph is the images terok knows of, by id, and the records that use
// them: every terok image that is tagged or that nothing is built on (the
// engine's listing without its intermediate images), and below them the
// images they rest on, found one by one.
type graph struct {
	nodes   map[string]*node
	records []Record
}

// listRetry bounds how long load asks again while images vanish under it.
const listRetry = 10 * time.Second

// maxWalk bounds the images load inspects one by one below the listed ones.
const maxWalk = 1000

// load reads the graph. It asks the engine only for terok's images that are
// tagged or have nothing built on them, never for every image: Podman 4.3
// works out each listed image's parent over the whole storage, so listing
// everything costs the square of the images in storage (662 images took
// 35-70 s on one machine, against 2 s for its 98 listed this way). A layer's
// parent is the layer below it (terok.parent, set by the build), so the build
// steps between two layers are never needed; what a failed build left has no
// such label, and is followed down its storage parents (inspected one at a
// time) to an image already known. See docs/decisions.md, "Listing images".
func (c *Catalog) load(ctx context.Context) (*graph, error) {
	var list []*types.ImageSummary
	var err error
	// Podman lists image by image: one removed meanwhile (by another
	// command: a build's intermediate images come and go) fails the whole
	// listing. Ask again, at least 8 times and for up to listRetry: a busy
	// host with several builds at once was seen to need more than a second,
	// and one listing there can itself take seconds.
	opts := new(images.ListOptions).WithFilters(map[string][]string{"label": {LabelLayer}})
	deadline := time.Now().Add(listRetry)
	for try := 0; ; try++ {
		list, err = images.List(c.Engine.On(ctx), opts)
		if err == nil || (try >= 8 && time.Now().After(deadline)) || !strings.Contains(err.Error(), "image not known") {
			break
		}
		time.Sleep(time.Duration(50*min(try+1, 5)) * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	g := &graph{nodes: map[string]*node{}}
	for _, s := range list {
		g.add(s)
	}
	recs, _, err := LoadRecords(c.Paths)
	if err != nil {
		return nil, err
	}
	exists := map[string]bool{DefaultsRecord: true}
	for _, p := range c.Projects {
		exists[p] = true
	}
	for _, r := range recs {
		if exists[r.Name()] {
			g.records = append(g.records, r)
		}
	}
	// What the listed images and the records rest on, and is not listed:
	// bases that are not terok's, earlier layers with a later one on them,
	// the steps of a failed build.
	var want []string
	for _, r := range g.records {
		want = append(want, r.IDs()...)
	}
	for _, n := range g.nodes {
		want = append(want, n.parent)
	}
	for walked := 0; len(want) > 0 && walked < maxWalk; {
		id := want[len(want)-1]
		want = want[:len(want)-1]
		if id == "" || g.nodes[id] != nil {
			continue
		}
		walked++
		s, err := inspectSummary(c.Engine.On(ctx), id)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue // removed meanwhile, or never there
		}
		want = append(want, g.add(s).parent)
	}
	return g, nil
}

// add puts an image into the graph.
func (g *graph) add(s *types.ImageSummary) *node {
	n := &node{sum: s, parent: s.ParentId}
	if p := s.Labels[LabelParent]; p != "" {
		n.parent = p
	}
	_, n.terok = s.Labels[LabelLayer]
	for _, t := range s.RepoTags {
		if t != "" && t != "<none>:<none>" {
			n.tagged = true
		}
	}
	g.nodes[s.ID] = n
	return n
}

// inspectSummary is one image, as the listing would give it (without its
// containers, which only a listing counts), or nil when there is none.
func inspectSummary(ctx context.Context, id string) (*types.ImageSummary, error) {
	rep, err := images.GetImage(ctx, id, nil)
	if isNotFound(err) || (err != nil && strings.Contains(err.Error(), "image not known")) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inspecting image %s: %w", id, err)
	}
	s := &types.ImageSummary{ID: rep.ID, RepoTags: rep.RepoTags, ParentId: rep.Parent, Size: rep.Size, Labels: rep.Labels}
	if s.Labels == nil && rep.Config != nil {
		s.Labels = rep.Config.Labels
	}
	if rep.Created != nil {
		s.Created = rep.Created.Unix()
	}
	return s, nil
}

// ancestors returns id and every image below it that the graph knows.
func (g *graph) ancestors(id string) []string {
	var out []string
	seen := map[string]bool{}
	for id != "" && !seen[id] {
		seen[id] = true
		n, ok := g.nodes[id]
		if !ok {
			break
		}
		out = append(out, id)
		id = n.parent
	}
	return out
}

// own is the bytes an image adds to its storage parent.
func (g *graph) own(id string) int64 {
	n := g.nodes[id]
	if p, ok := g.nodes[n.parent]; ok {
		return max(n.sum.Size-p.sum.Size, 0)
	}
	return n.sum.Size
}

// layerBytes is what a layer adds to the layer (or base) below it: its own
// bytes and those of the build steps between.
func (g *graph) layerBytes(id string) int64 {
	stop := g.nodes[id].sum.Labels[LabelParent]
	var total int64
	for _, a := range g.ancestors(id) {
		if a == stop {
			break
		}
		total += g.own(a)
	}
	return total
}

// users maps each image id of a record's chain (layers and base, and the
// build steps between them) to the records' names.
func (g *graph) users() map[string][]string {
	u := map[string][]string{}
	for _, r := range g.records {
		seen := map[string]bool{}
		for _, id := range r.IDs() {
			for _, a := range g.ancestors(id) {
				if !seen[a] {
					seen[a] = true
					u[a] = append(u[a], r.Name())
				}
			}
		}
	}
	return u
}

func (n *node) image(g *graph, users []string) Image {
	s := n.sum
	im := Image{
		ID: s.ID, Layer: s.Labels[LabelLayer], Base: s.Labels[LabelBase], Family: s.Labels[LabelFamily],
		Project: s.Labels[LabelProject], Hash: s.Labels[LabelHash], Parent: s.Labels[LabelParent],
		Users: users, Containers: s.Containers, Size: s.Size, Created: time.Unix(s.Created, 0).UTC(),
		Agents: splitList(s.Labels[LabelAgents]),
	}
	if im.Users == nil {
		im.Users = []string{}
	}
	for _, t := range s.RepoTags {
		if t != "<none>:<none>" {
			im.Tag = t
			break
		}
	}
	if im.Parent != "" {
		im.LayerSize = g.layerBytes(s.ID)
	} else {
		im.LayerSize = s.Size
	}
	return im
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// List returns the images terok made that have a tag (with all, the
// untagged ones too: earlier builds, and what failed builds left), newest
// first.
func (c *Catalog) List(ctx context.Context, all bool) ([]Image, error) {
	g, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	users := g.users()
	var out []Image
	for id, n := range g.nodes {
		if !n.terok || (!all && !n.tagged) {
			continue
		}
		out = append(out, n.image(g, users[id]))
	}
	sortImages(out)
	return out, nil
}

func sortImages(l []Image) {
	sort.Slice(l, func(i, j int) bool {
		if !l[i].Created.Equal(l[j].Created) {
			return l[i].Created.After(l[j].Created)
		}
		return l[i].ID < l[j].ID
	})
}

// Removed is one image rm or prune removed (or, dry, would remove).
type Removed struct {
	ID      string `json:"id"`
	Tag     string `json:"tag"`
	Layer   string `json:"layer"`
	Size    int64  `json:"size"`
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// NotTerokError is an image that terok did not make.
type NotTerokError struct{ Ref string }

func (e *NotTerokError) Error() string {
	return fmt.Sprintf("%s is not an image terok built; terok-image removes only its own", e.Ref)
}

// NotFoundError is an image reference that names nothing.
type NotFoundError struct{ Ref string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("no image %s", e.Ref) }

// ExitCode is "not found".
func (e *NotFoundError) ExitCode() int { return 4 }

// Hint points at ls.
func (e *NotFoundError) Hint() string { return "'terok-image ls' lists terok's images" }

// Resolve checks that every reference names an image terok made, and
// returns them (before anything is removed).
func (c *Catalog) Resolve(ctx context.Context, refs []string) ([]Image, error) {
	ids := make([]string, len(refs))
	for i, ref := range refs {
		img, err := inspectImage(c.Engine.On(ctx), ref)
		if err != nil {
			return nil, err
		}
		if img == nil {
			return nil, &NotFoundError{Ref: ref}
		}
		ids[i] = img.ID
	}
	g, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		// A build step under a layer is not in the graph until named.
		if g.nodes[id] == nil {
			s, err := inspectSummary(c.Engine.On(ctx), id)
			if err != nil {
				return nil, err
			}
			if s != nil {
				g.add(s)
			}
		}
	}
	users := g.users()
	var out []Image
	for i, ref := range refs {
		n, ok := g.nodes[ids[i]]
		if !ok || !n.terok {
			return nil, &NotTerokError{Ref: ref}
		}
		im := n.image(g, users[ids[i]])
		if strings.Contains(ref, ":") || strings.Contains(ref, "/") {
			im.Tag = ref
		}
		out = append(out, im)
	}
	// An image under another that stays would only lose its name.
	going := map[string]bool{}
	for _, im := range out {
		going[im.ID] = true
	}
	for id, n := range g.nodes {
		if !n.tagged || going[id] {
			continue
		}
		for _, a := range g.ancestors(id)[1:] {
			if going[a] {
				return nil, &InUseError{Ref: refOf(out, a), By: n.sum.RepoTags[0]}
			}
		}
	}
	g.deepestFirst(out)
	return out, nil
}

func refOf(l []Image, id string) string {
	for _, im := range l {
		if im.ID == id && im.Tag != "" {
			return im.Tag
		}
	}
	return id[:12]
}

// InUseError is an image that another image, which stays, is built on.
type InUseError struct{ Ref, By string }

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is under %s, which stays; remove that too, or let 'terok-image prune' remove what nothing uses", e.Ref, e.By)
}

// deepestFirst orders images so that each comes before the one it was
// built on: the most ancestors first.
func (g *graph) deepestFirst(l []Image) {
	depth := map[string]int{}
	for _, im := range l {
		depth[im.ID] = len(g.ancestors(im.ID))
	}
	sort.SliceStable(l, func(i, j int) bool {
		if depth[l[i].ID] != depth[l[j].ID] {
			return depth[l[i].ID] > depth[l[j].ID]
		}
		return l[i].ID < l[j].ID
	})
}

// Remove removes images Resolve returned, in its order, each by its
// tag when it has one (so that an image with several names loses only
// that one) or its id. An image in use by a container or under another
// image is not removed; its entry says why.
func (c *Catalog) Remove(ctx context.Context, list []Image) []Removed {
	out := make([]Removed, 0, len(list))
	for _, im := range list {
		ref := im.Tag
		if ref == "" {
			ref = im.ID
		}
		r := Removed{ID: im.ID, Tag: im.Tag, Layer: im.Layer, Size: im.LayerSize}
		if err := c.remove(ctx, ref); err != nil {
			r.Error = err.Error()
		} else {
			r.Removed = true
		}
		out = append(out, r)
	}
	return out
}

func (c *Catalog) remove(ctx context.Context, ref string) error {
	_, errs := images.Remove(c.Engine.On(ctx), []string{ref}, new(images.RemoveOptions).WithForce(false))
	if len(errs) == 0 {
		return nil
	}
	msg := errs[0].Error()
	switch {
	case isNotFound(errs[0]) || strings.Contains(msg, "image not known"):
		// Podman removes the untagged steps below an image it removes:
		// this one went with the image built on it.
		return nil
	case strings.Contains(msg, "dependent children") || strings.Contains(msg, "has dependent"):
		return fmt.Errorf("other images are built on it")
	case strings.Contains(msg, "in use") || strings.Contains(msg, "being used"):
		return fmt.Errorf("a container uses it")
	}
	return errs[0]
}

// Prune removes the images terok built that nothing needs: no existing
// project's last build (nor the defaults'), no container, and no image
// above either uses them. That covers earlier builds and the steps left by
// failed builds. With dry it only says what it would remove. It never
// touches an image without terok's labels, nor a base.
func (c *Catalog) Prune(ctx context.Context, dry bool) ([]Removed, error) {
	unlock, err := store.Lock(c.Paths.ImagesDir())
	if err != nil {
		return nil, err
	}
	defer unlock()
	g, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, r := range g.records {
		for _, id := range r.IDs() {
			for _, a := range g.ancestors(id) {
				keep[a] = true
			}
		}
	}
	for id, n := range g.nodes {
		if n.sum.Containers > 0 {
			for _, a := range g.ancestors(id) {
				keep[a] = true
			}
		}
	}
	// A step of a failed build that a later step rests on goes with the
	// images on top of it: Podman removes the untagged images below one it
	// removes once nothing else rests on them. So only the tops are removed,
	// and each is counted with the steps that go with it. (A step that a
	// failed build shared with one that succeeded, from the build cache, has
	// a child the graph does not see: Podman keeps it, and it is counted.)
	children := map[string]int{}
	for _, n := range g.nodes {
		children[n.parent]++
	}
	steps := map[string]bool{}
	for id, n := range g.nodes {
		steps[id] = n.terok && !n.tagged && n.sum.Labels[LabelParent] == "" && children[id] > 0 && !keep[id]
	}
	var cands []Image
	for id, n := range g.nodes {
		layer := n.sum.Labels[LabelLayer]
		if !n.terok || keep[id] || steps[id] || (layer != L0 && layer != L1 && layer != L2) {
			continue
		}
		cands = append(cands, n.image(g, nil))
	}
	g.deepestFirst(cands)
	for i := range cands {
		id := cands[i].ID
		cands[i].LayerSize = g.own(id)
		for _, a := range g.ancestors(id)[1:] {
			if !steps[a] {
				break
			}
			if children[a]--; children[a] > 0 {
				break
			}
			cands[i].LayerSize += g.own(a)
		}
	}
	if dry {
		out := make([]Removed, len(cands))
		for i, im := range cands {
			out[i] = Removed{ID: im.ID, Tag: im.Tag, Layer: im.Layer, Size: im.LayerSize}
		}
		return out, nil
	}
	out := c.Remove(ctx, cands)
	c.tidyRecords(ctx, g)
	return out, nil
}

// tidyRecords drops the records of projects that no longer exist, and the
// family records of images that are gone. It is tidying, after the images
// are removed: a record it cannot remove stays for the next prune.
func (c *Catalog) tidyRecords(ctx context.Context, g *graph) {
	live := map[string]bool{}
	for _, r := range g.records {
		live[r.Name()] = true
	}
	recs, _, _ := LoadRecords(c.Paths)
	for _, r := range recs {
		if !live[r.Name()] {
			_ = removeRecord(c.Paths, r.Name()) // tidying; see above
		}
	}
	dir := filepath.Join(c.Paths.ImagesDir(), "families")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		id := strings.TrimSuffix(e.Name(), ".json")
		if _, ok := g.nodes[id]; ok || !validID(id) {
			continue
		}
		// The graph holds only what terok's images rest on: ask.
		if s, err := inspectSummary(c.Engine.On(ctx), id); err == nil && s == nil {
			_ = os.Remove(filepath.Join(dir, e.Name())) // tidying; see above
		}
	}
}

// Usage is one line of the disk usage report.
type Usage struct {
	Kind   string   `json:"kind"` // layer, agent, runtime, base, project, unused, total
	Name   string   `json:"name"`
	Layer  string   `json:"layer,omitempty"`
	Image  string   `json:"image,omitempty"` // agent, runtime: the L1 it is in
	Bytes  int64    `json:"bytes"`
	Unique int64    `json:"unique_bytes"`
	Shared int64    `json:"shared_bytes"`
	Users  []string `json:"users"`
}

// Usage reports the disk used by terok's images: each layer (what it adds
// to the one below), and in each L1 what each agent's step and Node.js's
// add (found in the image's history by their StepMarker), each base, each
// project's whole chain (bytes it alone uses, and bytes it shares), what no
// build uses (prune's), and the total with every layer counted once. A build
// step that two layers share through the build cache (two L1s on one L0
// whose first agent is the same) counts in each: the graph does not hold the
// steps between layers (see load).
func (c *Catalog) Usage(ctx context.Context) ([]Usage, error) {
	g, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	users := g.users()
	var out []Usage
	// The set of images, with their build steps, behind every record.
	sets := map[string]map[string]bool{}
	counted := map[string]bool{}
	for _, r := range g.records {
		set := map[string]bool{}
		for _, id := range r.IDs() {
			for _, a := range g.ancestors(id) {
				set[a] = true
			}
		}
		sets[r.Name()] = set
	}
	// Layers and bases, in the order ls shows them.
	var layers []Image
	bases := map[string]bool{}
	for id, n := range g.nodes {
		if n.terok && n.tagged {
			layers = append(layers, n.image(g, users[id]))
		}
	}
	for _, r := range g.records {
		bases[r.BaseID] = true
	}
	sortImages(layers)
	for _, im := range layers {
		if im.Layer == "base" {
			continue
		}
		out = append(out, split(Usage{Kind: "layer", Name: im.Tag, Layer: im.Layer, Bytes: im.LayerSize, Users: im.Users}))
		if im.Layer == L1 {
			// What each agent's step (and Node.js's) adds, from the history.
			h, err := images.History(c.Engine.On(ctx), im.ID, nil)
			if err != nil {
				return nil, fmt.Errorf("reading the history of %s: %w", im.Tag, err)
			}
			var steps []Step
			for _, e := range h {
				steps = append(steps, Step{CreatedBy: e.CreatedBy, Size: e.Size})
			}
			for _, s := range StepSizes(steps) {
				out = append(out, split(Usage{Kind: s.Kind, Name: s.Name, Layer: L1, Image: im.Tag, Bytes: s.Size, Users: im.Users}))
			}
		}
	}
	for _, id := range sortedKeys(bases) {
		n, ok := g.nodes[id]
		if !ok {
			continue
		}
		name := id[:12]
		for _, t := range n.sum.RepoTags {
			if t != "<none>:<none>" {
				name = t
				break
			}
		}
		out = append(out, split(Usage{Kind: "base", Name: name, Bytes: n.sum.Size, Users: orEmpty(users[id])}))
	}
	for _, r := range g.records {
		set := sets[r.Name()]
		u := Usage{Kind: "project", Name: r.Name(), Users: []string{r.Name()}}
		for id := range set {
			if _, ok := g.nodes[id]; !ok {
				continue
			}
			b := g.own(id)
			u.Bytes += b
			if len(users[id]) == 1 {
				u.Unique += b
			}
		}
		u.Shared = u.Bytes - u.Unique
		out = append(out, u)
	}
	// Everything behind a record, then terok's images nothing uses.
	var total, unused int64
	for _, set := range sets {
		for id := range set {
			if _, ok := g.nodes[id]; ok && !counted[id] {
				counted[id] = true
				total += g.own(id)
			}
		}
	}
	for id, n := range g.nodes {
		if n.terok && !counted[id] && n.sum.Labels[LabelLayer] != "base" {
			for _, a := range g.ancestors(id) {
				an := g.nodes[a]
				if !an.terok || an.sum.Labels[LabelLayer] == "base" {
					break
				}
				if !counted[a] {
					counted[a] = true
					unused += g.own(a)
				}
			}
		}
	}
	out = append(out, Usage{Kind: "unused", Name: "images no build uses ('terok-image prune' removes them)", Bytes: unused, Unique: unused, Users: []string{}})
	out = append(out, Usage{Kind: "total", Name: "every layer counted once", Bytes: total + unused, Users: []string{}})
	return out, nil
}

// Step is one step of an image's history: its instruction and the bytes
// it added.
type Step struct {
	CreatedBy string
	Size      int64
}

// StepSize is what one agent's (Kind "agent") or runtime's (Kind
// "runtime") L1 step added.
type StepSize struct {
	Kind, Name string
	Size       int64
}

// StepSizes finds the L1 steps in an image's history (newest first, as the
// engine gives it) by the StepMarker that starts each, oldest first; an
// agent's size includes the COPY step right before its own (the only COPY
// steps L1 has copy agents out of their stages).
func StepSizes(history []Step) []StepSize {
	var out []StepSize
	for i := len(history) - 1; i >= 0; i-- {
		for _, kind := range []string{"agent", "runtime"} {
			m := StepMarker(kind, "")
			j := strings.Index(history[i].CreatedBy, m)
			if j < 0 {
				continue
			}
			name, _, ok := strings.Cut(history[i].CreatedBy[j+len(m):], ";")
			if ok && name != "" && !strings.ContainsAny(name, " \t\n") {
				size := history[i].Size
				// An agent installed in its own stage: its COPY is the step before.
				if i+1 < len(history) && strings.Contains(history[i+1].CreatedBy, " COPY ") {
					size += history[i+1].Size
				}
				out = append(out, StepSize{Kind: kind, Name: name, Size: size})
			}
		}
	}
	return out
}

// split counts an image's bytes as shared when more than one build uses it.
func split(u Usage) Usage {
	if len(u.Users) > 1 {
		u.Shared = u.Bytes
	} else {
		u.Unique = u.Bytes
	}
	return u
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
