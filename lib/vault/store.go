package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/terok-ai/terok-go/lib/store"
)

// Store is the credential store of one vault, opened with its key. Every
// change is a read-modify-write of StoreFile under the vault directory's
// lock, written atomically (temporary file, fsync, rename): concurrent
// writers, in one process or many, lose nothing, and a reader sees the old
// or the new file, never a torn one. Reads are cached while the file is
// unchanged, so a proxy may call Get per request.
type Store struct {
	dir string
	key *Key

	mu     sync.Mutex
	stamp  fileStamp
	cached map[string]Credential
}

type storeFile struct {
	Version     int                   `json:"version"`
	Credentials map[string]Credential `json:"credentials"`
}

func newStore(dir string, key *Key) *Store { return &Store{dir: dir, key: key} }

// Dir is the vault's directory.
func (s *Store) Dir() string { return s.dir }

// Key is the store's key, to hand to a child process (Key.WriteTo).
func (s *Store) Key() *Key { return s.key }

func (s *Store) path() string { return filepath.Join(s.dir, StoreFile) }

func sealStore(r *age.X25519Recipient, creds map[string]Credential) ([]byte, error) {
	plain, err := json.Marshal(storeFile{Version: 1, Credentials: creds})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// open decrypts a store file: a *KeyError if it is another key's, a
// *store.CorruptError if it is damaged.
func (s *Store) open(data []byte) (map[string]Credential, error) {
	r, err := age.Decrypt(bytes.NewReader(data), s.key.id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, &KeyError{Path: s.path(), Err: err}
		}
		return nil, &store.CorruptError{Path: s.path(), Err: err}
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, &store.CorruptError{Path: s.path(), Err: err}
	}
	var f storeFile
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, &store.CorruptError{Path: s.path(), Err: err}
	}
	if f.Version != 1 {
		return nil, &store.CorruptError{Path: s.path(), Err: fmt.Errorf("unknown version %d", f.Version)}
	}
	if f.Credentials == nil {
		f.Credentials = map[string]Credential{}
	}
	return f.Credentials, nil
}

// fileStamp tells a changed file from an unchanged one: a write renames a
// new inode into place, so the inode and change time differ.
type fileStamp struct {
	ino, size   uint64
	mtime, ctim int64
}

func stampOf(fi fs.FileInfo) fileStamp {
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return fileStamp{size: uint64(fi.Size()), mtime: fi.ModTime().UnixNano()}
	}
	return fileStamp{ino: st.Ino, size: uint64(st.Size), mtime: st.Mtim.Nano(), ctim: st.Ctim.Nano()}
}

// load returns the credentials, from the cache while the file is
// unchanged (fresh: always from disk). The map is the cache's: callers
// copy before changing it.
func (s *Store) load(fresh bool) (map[string]Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.Open(s.path())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return map[string]Credential{}, nil
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	stamp := stampOf(fi)
	if !fresh && s.cached != nil && stamp == s.stamp {
		return s.cached, nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	creds, err := s.open(data)
	if err != nil {
		return nil, err
	}
	s.cached, s.stamp = creds, stamp
	return creds, nil
}

// Get returns provider's credential, or a *NoCredentialError.
func (s *Store) Get(provider string) (Credential, error) { return s.get(provider, false) }

// getFresh is Get read from disk, bypassing the cache (the refresher's
// re-read under its lock).
func (s *Store) getFresh(provider string) (Credential, error) { return s.get(provider, true) }

func (s *Store) get(provider string, fresh bool) (Credential, error) {
	creds, err := s.load(fresh)
	if err != nil {
		return Credential{}, err
	}
	c, ok := creds[provider]
	if !ok {
		return Credential{}, &NoCredentialError{Provider: provider}
	}
	return c, nil
}

// List returns every credential's entry, by provider; never a secret.
func (s *Store) List() ([]Entry, error) {
	creds, err := s.load(false)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(creds))
	for p, c := range creds {
		out = append(out, Entry{
			Provider: p, Kind: c.Kind, Expiry: c.Expiry, Source: c.Source, Updated: c.Updated,
			Refreshable: c.Kind == OAuth && c.RefreshToken != "",
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	return out, nil
}

// Set stores c as provider's credential, replacing any.
func (s *Store) Set(provider string, c Credential) error {
	if err := ValidProvider(provider); err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return fmt.Errorf("%s: %w", provider, err)
	}
	return s.Update(provider, func(old *Credential, _ bool) error {
		*old = c
		return nil
	})
}

// Remove deletes provider's credential, or returns a *NoCredentialError.
func (s *Store) Remove(provider string) error {
	return s.change(func(creds map[string]Credential) error {
		if _, ok := creds[provider]; !ok {
			return &NoCredentialError{Provider: provider}
		}
		delete(creds, provider)
		return nil
	})
}

// Update changes provider's credential in place under the store's lock:
// fn gets the current one (zero and exists false if none) as it is on disk
// at that moment. The result is checked before it is written; its Updated
// time is set.
func (s *Store) Update(provider string, fn func(c *Credential, exists bool) error) error {
	return s.change(func(creds map[string]Credential) error {
		c, ok := creds[provider]
		if err := fn(&c, ok); err != nil {
			return err
		}
		if err := c.Check(); err != nil {
			return fmt.Errorf("%s: %w", provider, err)
		}
		c.Updated = time.Now().UTC()
		creds[provider] = c
		return nil
	})
}

// change is the read-modify-write: decrypt what is on disk (an error —
// another key, a damaged file — stops it before anything is written),
// change a copy, encrypt, write atomically.
func (s *Store) change(fn func(map[string]Credential) error) error {
	if _, err := readIdentityFile(s.dir); err != nil {
		return err
	}
	return store.Update(s.path(), func(old []byte) ([]byte, error) {
		creds := map[string]Credential{}
		if old != nil {
			var err error
			if creds, err = s.open(old); err != nil {
				return nil, err
			}
		}
		if err := fn(creds); err != nil {
			return nil, err
		}
		return sealStore(s.key.id.Recipient(), creds)
	})
}
