package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

type streamed struct {
	ID   string `json:"id"`
	Code int    `json:"code"`
}

var streamedColumns = []Column[streamed]{
	{Header: "ID", Value: func(s streamed) string { return s.ID }},
	{Header: "EXIT", Value: func(s streamed) string { return fmt.Sprint(s.Code) }},
	{Header: "NOTE", Value: func(s streamed) string { return "" }},
}

// On a terminal: the header once, before the first row, which it is as
// wide as; a wider row later widens its column from then on.
func TestStreamTableHeaderOnce(t *testing.T) {
	var out bytes.Buffer
	s := &Stream[streamed]{Env: &Env{Stdout: &out, StdoutTTY: true}, Columns: streamedColumns}
	for _, it := range []streamed{{"abcdefgh", 0}, {"b", 1}, {"longer-than-before", 124}, {"c\x1b", 2}} {
		if err := s.Print(it); err != nil {
			t.Fatal(err)
		}
	}
	want := "ID        EXIT  NOTE\n" +
		"abcdefgh  0     -\n" +
		"b         1     -\n" +
		"longer-than-before  124   -\n" +
		"c?                  2     -\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// Piped (or with --json): one JSON line per item, at once; JSON may
// change an item or drop it.
func TestStreamJSONLines(t *testing.T) {
	var out bytes.Buffer
	s := &Stream[streamed]{Env: &Env{Stdout: &out}, Columns: streamedColumns}
	s.Print(streamed{"a", 0})
	s.Print(streamed{"b<&>", 3})
	if out.String() != "{\"id\":\"a\",\"code\":0}\n{\"id\":\"b<&>\",\"code\":3}\n" {
		t.Fatalf("got %q", out.String())
	}
	out.Reset()
	s.JSON = func(it streamed) any {
		if it.Code == 0 {
			return nil
		}
		return map[string]int{"exit": it.Code}
	}
	s.Print(streamed{"a", 0})
	s.Print(streamed{"b", 3})
	if out.String() != "{\"exit\":3}\n" {
		t.Fatalf("got %q", out.String())
	}
}

// Text prints items its own way on a terminal; OnRequest keeps it so when
// stdout is piped, and --json still asks for JSON lines.
func TestStreamText(t *testing.T) {
	var out, errb bytes.Buffer
	text := func(e *Env, it streamed) error {
		w := e.Stdout
		if it.Code != 0 {
			w = e.Stderr
		}
		_, err := fmt.Fprintf(w, "%s|", it.ID)
		return err
	}
	env := &Env{Stdout: &out, Stderr: &errb}
	s := &Stream[streamed]{Env: env, Text: text, OnRequest: true}
	s.Print(streamed{"a", 0})
	s.Print(streamed{"b", 1})
	if out.String() != "a|" || errb.String() != "b|" {
		t.Fatalf("got %q and %q", out.String(), errb.String())
	}
	env.JSON = true
	out.Reset()
	s.Print(streamed{"c", 0})
	if !strings.HasPrefix(out.String(), `{"id":"c"`) {
		t.Fatalf("got %q", out.String())
	}
}
