package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Column is one column of a human table: a header and how to render a row.
type Column[T any] struct {
	Header string
	Value  func(T) string
}

// List prints items: JSON lines (each item marshalled as it is) or an
// aligned table with the given columns. An empty list prints nothing.
func List[T any](e *Env, items []T, cols []Column[T]) error {
	if e.JSONLines() {
		return writeJSONLines(e.Stdout, items)
	}
	if len(items) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers(cols), "\t"))
	for _, it := range items {
		fmt.Fprintln(tw, strings.Join(cells(cols, it), "\t"))
	}
	return tw.Flush()
}

func headers[T any](cols []Column[T]) []string {
	hdr := make([]string, len(cols))
	for i, c := range cols {
		hdr[i] = c.Header
	}
	return hdr
}

// cells renders one row: each value sanitised, an empty one as "-".
func cells[T any](cols []Column[T], it T) []string {
	row := make([]string, len(cols))
	for i, c := range cols {
		v := c.Value(it)
		if v == "" {
			v = "-"
		}
		row[i] = sanitize(v)
	}
	return row
}

func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}

// Field is one line of a human "key: value" view of a single object.
type Field struct {
	Name  string
	Value string
}

// Object prints one record: a JSON line, or "name: value" lines on a
// terminal, aligned.
func Object(e *Env, v any, fields []Field) error {
	if e.JSONLines() {
		return Line(e.Stdout, v)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 1, ' ', 0)
	for _, f := range fields {
		val := f.Value
		if val == "" {
			val = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", f.Name, sanitize(val))
	}
	return tw.Flush()
}

// Line writes v as one JSON line.
func Line(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// sanitize keeps a table cell on one line and free of terminal control
// sequences: values can come from files a person did not write.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return '?'
		}
		return r
	}, s)
}
