package task

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// IDAlphabet has no look-alike characters (no 0/o, 1/l/i), so an id read
// aloud or off a screen is typed back right.
const IDAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// IDLen is the length of a task id: 31^8 ≈ 8.5e11 ids.
const IDLen = 8

// NewID returns a random task id.
func NewID() string {
	var b [IDLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	for i := range b {
		// 256 % 31 leaves a tiny bias; rejection keeps ids uniform.
		for b[i] >= 248 {
			var c [1]byte
			rand.Read(c[:])
			b[i] = c[0]
		}
		b[i] = IDAlphabet[int(b[i])%len(IDAlphabet)]
	}
	return string(b[:])
}

// ValidID checks a whole task id.
func ValidID(id string) error {
	if len(id) != IDLen {
		return fmt.Errorf("task id %q is not %d characters", id, IDLen)
	}
	return ValidPrefix(id)
}

// ValidPrefix checks a task id or a prefix of one.
func ValidPrefix(p string) error {
	if p == "" || len(p) > IDLen {
		return fmt.Errorf("task id %q is empty or too long", p)
	}
	for _, c := range p {
		if !strings.ContainsRune(IDAlphabet, c) {
			return fmt.Errorf("task id %q has a character that no task id has", p)
		}
	}
	return nil
}
