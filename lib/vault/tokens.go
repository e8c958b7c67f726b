package vault

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/terok-ai/terok-go/lib/store"
)

// Phantom tokens. A task's agent gets one in place of the real credential:
// PhantomPrefix and 192 random bits in hex, bound to (task, project,
// provider). It is worth nothing anywhere but at that task's own proxy.
//
// The tokens file keeps only each token's SHA-256, never the token: it is
// not encrypted with the store's key (a proxy checks tokens without the
// key, and a revoke needs no unlock), and reading it gives nothing to
// present. A token is revoked by deleting its record; being random, it
// can never match again, even when its task restarts and gets a new one.
const (
	PhantomPrefix = "terok-phantom-"
	phantomBytes  = 24
	phantomLen    = len(PhantomPrefix) + 2*phantomBytes
)

// ErrUnknownToken: no live token matches (never minted, revoked, or not a
// phantom at all).
var ErrUnknownToken = errors.New("unknown or revoked phantom token")

// Binding is what a phantom token stands for.
type Binding struct {
	Task     string `json:"task"`
	Project  string `json:"project"`
	Provider string `json:"provider"`
}

// TokenInfo is what List shows of a token: masked, never whole.
type TokenInfo struct {
	Masked   string    `json:"token"`
	Task     string    `json:"task"`
	Project  string    `json:"project"`
	Provider string    `json:"provider"`
	Created  time.Time `json:"created"`
}

type tokenRecord struct {
	Hash     string    `json:"sha256"`
	Masked   string    `json:"masked"`
	Task     string    `json:"task"`
	Project  string    `json:"project"`
	Provider string    `json:"provider"`
	Created  time.Time `json:"created"`
}

type tokensFile struct {
	Version int           `json:"version"`
	Tokens  []tokenRecord `json:"tokens"`
}

type liveToken struct {
	hash [sha256.Size]byte
	b    Binding
}

// Tokens is the tokens file at one path. Check reads it again whenever it
// changed on disk, so a revoke by any process takes effect at the next
// request of every proxy.
type Tokens struct {
	path string

	mu     sync.Mutex
	stamp  fileStamp
	loaded bool
	live   []liveToken
}

// OpenTokens returns the tokens file at path (created by the first Mint).
func OpenTokens(path string) *Tokens { return &Tokens{path: path} }

// Path is the file's path.
func (t *Tokens) Path() string { return t.path }

func validName(what, s string) error {
	if s == "" || len(s) > 128 || !headerSafe(s) {
		return fmt.Errorf("invalid %s %q", what, s)
	}
	return nil
}

// Mint makes a new token for (task, project, provider) and returns it.
// A task holds at most one token per provider: an earlier one for the same
// task and provider (from before a restart) is revoked by it.
func (t *Tokens) Mint(task, project, provider string) (string, error) {
	if err := validName("task", task); err != nil {
		return "", err
	}
	if err := validName("project", project); err != nil {
		return "", err
	}
	if err := ValidProvider(provider); err != nil {
		return "", err
	}
	raw := make([]byte, phantomBytes)
	rand.Read(raw)
	token := PhantomPrefix + hex.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	rec := tokenRecord{
		Hash: hex.EncodeToString(sum[:]), Masked: mask(token),
		Task: task, Project: project, Provider: provider, Created: time.Now().UTC(),
	}
	err := t.update(func(f *tokensFile) {
		kept := f.Tokens[:0]
		for _, r := range f.Tokens {
			if r.Task != task || r.Provider != provider {
				kept = append(kept, r)
			}
		}
		f.Tokens = append(kept, rec)
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// mask shows the prefix and the first six random characters.
func mask(token string) string { return token[:len(PhantomPrefix)+6] + "…" }

// Revoke deletes every token of the given tasks and returns how many.
func (t *Tokens) Revoke(tasks ...string) (int, error) {
	drop := map[string]bool{}
	for _, task := range tasks {
		drop[task] = true
	}
	return t.revoke(func(r tokenRecord) bool { return drop[r.Task] })
}

// RevokeAll deletes every token (terok panic).
func (t *Tokens) RevokeAll() (int, error) {
	return t.revoke(func(tokenRecord) bool { return true })
}

func (t *Tokens) revoke(match func(tokenRecord) bool) (int, error) {
	n := 0
	err := t.update(func(f *tokensFile) {
		kept := f.Tokens[:0]
		for _, r := range f.Tokens {
			if match(r) {
				n++
			} else {
				kept = append(kept, r)
			}
		}
		f.Tokens = kept
	})
	return n, err
}

func (t *Tokens) update(fn func(*tokensFile)) error {
	return store.UpdateJSON(t.path, func(f *tokensFile, exists bool) error {
		if exists && f.Version != 1 {
			return &store.CorruptError{Path: t.path, Err: fmt.Errorf("unknown version %d", f.Version)}
		}
		for _, r := range f.Tokens {
			if h, err := hex.DecodeString(r.Hash); err != nil || len(h) != sha256.Size {
				return &store.CorruptError{Path: t.path, Err: errors.New("a token hash is not a SHA-256")}
			}
		}
		f.Version = 1
		if f.Tokens == nil {
			f.Tokens = []tokenRecord{}
		}
		fn(f)
		return nil
	})
}

// List returns the live tokens of task ("": of every task), masked.
func (t *Tokens) List(task string) ([]TokenInfo, error) {
	f, err := t.read()
	if err != nil {
		return nil, err
	}
	var out []TokenInfo
	for _, r := range f.Tokens {
		if task == "" || r.Task == task {
			out = append(out, TokenInfo{Masked: r.Masked, Task: r.Task, Project: r.Project, Provider: r.Provider, Created: r.Created})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Task != out[j].Task {
			return out[i].Task < out[j].Task
		}
		return out[i].Provider < out[j].Provider
	})
	return out, nil
}

func (t *Tokens) read() (*tokensFile, error) {
	var f tokensFile
	if err := store.ReadJSON(t.path, &f); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &tokensFile{Version: 1}, nil
		}
		return nil, err
	}
	if f.Version != 1 {
		return nil, &store.CorruptError{Path: t.path, Err: fmt.Errorf("unknown version %d", f.Version)}
	}
	return &f, nil
}

// Check returns the binding of a live token, or ErrUnknownToken. Its
// hash is compared with every live token's in constant time.
func (t *Tokens) Check(token string) (Binding, error) {
	live, err := t.load()
	if err != nil {
		return Binding{}, err
	}
	if len(token) != phantomLen || token[:len(PhantomPrefix)] != PhantomPrefix {
		return Binding{}, ErrUnknownToken
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range live {
		if subtle.ConstantTimeCompare(sum[:], live[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Binding{}, ErrUnknownToken
	}
	return live[found].b, nil
}

func (t *Tokens) load() ([]liveToken, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.live, t.loaded = nil, false
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The stamp and the content come from one open file: a file replaced
	// meanwhile is seen at the next call.
	if st := stampOf(fi); t.loaded && st == t.stamp {
		return t.live, nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var tf tokensFile
	if err := json.Unmarshal(data, &tf); err != nil || tf.Version != 1 {
		if err == nil {
			err = fmt.Errorf("unknown version %d", tf.Version)
		}
		return nil, &store.CorruptError{Path: t.path, Err: err}
	}
	live := make([]liveToken, 0, len(tf.Tokens))
	for _, r := range tf.Tokens {
		h, err := hex.DecodeString(r.Hash)
		if err != nil || len(h) != sha256.Size {
			return nil, &store.CorruptError{Path: t.path, Err: errors.New("a token hash is not a SHA-256")}
		}
		var lt liveToken
		copy(lt.hash[:], h)
		lt.b = Binding{Task: r.Task, Project: r.Project, Provider: r.Provider}
		live = append(live, lt)
	}
	t.live, t.stamp, t.loaded = live, stampOf(fi), true
	return live, nil
}
