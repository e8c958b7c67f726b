package task

import (
	"crypto/rand"

	"github.com/terok-ai/terok-go/lib/taskid"
)

// IDAlphabet has no look-alike characters (no 0/o, 1/l/i), so an id read
// aloud or off a screen is typed back right.
const IDAlphabet = taskid.Alphabet

// IDLen is the length of a task id: 31^8 ≈ 8.5e11 ids.
const IDLen = taskid.Len

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
func ValidID(id string) error { return taskid.Valid(id) }

// ValidPrefix checks a task id or a prefix of one.
func ValidPrefix(p string) error { return taskid.ValidPrefix(p) }
