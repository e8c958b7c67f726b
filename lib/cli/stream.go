package cli

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Stream prints items one at a time, as they happen, for the commands that
// report while they run (task run's output, wait, the shield's logs and
// watch, image build); List is for results known at once. With JSON lines
// each item is one line of its own, written at once. On a terminal each is
// a row of a table whose header is printed once, before the first row
// (Columns), or whatever Text makes of it.
//
// A Stream is used through a pointer and is safe for concurrent use (a
// task's stdout and stderr arrive on goroutines of their own).
type Stream[T any] struct {
	Env *Env
	// Columns print an item as a table row on a terminal. Rows are printed
	// as they come, so they cannot be aligned on the widest cell the way
	// List's are: a column is as wide as its header and the widest cell
	// printed so far (the first row's, at first).
	Columns []Column[T]
	// Text prints an item on a terminal when there are no Columns, to
	// e.Stdout or e.Stderr as it sees fit; it may print nothing.
	Text func(e *Env, item T) error
	// JSON is the value an item prints as with JSON lines; nil prints
	// nothing for the item. Without it an item prints as itself.
	JSON func(item T) any
	// OnRequest prints JSON lines only when --json asks for them, not
	// because stdout is piped: for output that is a program's own, as
	// terok-task logs prints an agent's.
	OnRequest bool

	mu     sync.Mutex
	widths []int // nil until the header is printed
}

// Print prints one item.
func (s *Stream[T]) Print(item T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Env.JSON || !s.OnRequest && s.Env.JSONLines() {
		v := any(item)
		if s.JSON != nil {
			if v = s.JSON(item); v == nil {
				return nil
			}
		}
		return Line(s.Env.Stdout, v)
	}
	if len(s.Columns) == 0 {
		if s.Text == nil {
			return nil
		}
		return s.Text(s.Env, item)
	}
	row := cells(s.Columns, item)
	if s.widths == nil {
		// The header is as wide as the first row too.
		hdr := headers(s.Columns)
		s.widths = make([]int, len(hdr))
		for i := range hdr {
			s.widths[i] = max(utf8.RuneCountInString(hdr[i]), utf8.RuneCountInString(row[i]))
		}
		if err := s.row(hdr); err != nil {
			return err
		}
	}
	return s.row(row)
}

// row prints cells padded to the columns' widths, two spaces apart, the
// last one unpadded (as List's tabwriter does).
func (s *Stream[T]) row(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		n := utf8.RuneCountInString(c)
		s.widths[i] = max(s.widths[i], n)
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", s.widths[i]-n+2))
		}
	}
	b.WriteByte('\n')
	_, err := s.Env.Stdout.Write([]byte(b.String()))
	return err
}
