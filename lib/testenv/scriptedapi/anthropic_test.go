package scriptedapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sseEvent is one server-sent event as it came over the wire.
type sseEvent struct {
	name string
	data map[string]any
}

// readEvent reads one event and checks its framing (parseEvent); the end
// of the stream is false.
func readEvent(t *testing.T, r *bufio.Reader) (sseEvent, bool) {
	t.Helper()
	ev, ok, err := parseEvent(r)
	if err != nil {
		t.Fatal(err)
	}
	return ev, ok
}

// parseEvent reads one event as the real API frames it: an `event:` line,
// one `data:` line of JSON whose type is the event's name, a blank line.
func parseEvent(r *bufio.Reader) (sseEvent, bool, error) {
	line, err := r.ReadString('\n')
	if err == io.EOF && line == "" {
		return sseEvent{}, false, nil
	}
	if err != nil {
		return sseEvent{}, false, fmt.Errorf("reading the stream: %v (after %q)", err, line)
	}
	name, ok := strings.CutPrefix(line, "event: ")
	if !ok || !strings.HasSuffix(name, "\n") {
		return sseEvent{}, false, fmt.Errorf("want an event: line, got %q", line)
	}
	name = strings.TrimSuffix(name, "\n")
	data, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(data, "data: ") {
		return sseEvent{}, false, fmt.Errorf("want a data: line after event %s, got %q (%v)", name, data, err)
	}
	ev := sseEvent{name: name}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &ev.data); err != nil {
		return ev, false, fmt.Errorf("event %s: data is not one line of JSON: %q", name, data)
	}
	if ev.data["type"] != name {
		return ev, false, fmt.Errorf("event %s carries type %v", name, ev.data["type"])
	}
	if blank, err := r.ReadString('\n'); err != nil || blank != "\n" {
		return ev, false, fmt.Errorf("event %s does not end with a blank line: %q (%v)", name, blank, err)
	}
	return ev, true, nil
}

func post(t *testing.T, url, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

const (
	bashTools  = `"tools":[{"name":"Read"},{"name":"Bash"}]`
	firstAsk   = `{"model":"claude-test","stream":true,` + bashTools + `,"messages":[{"role":"user","content":"do it"}]}`
	secondAsk  = `{"model":"claude-test","stream":true,` + bashTools + `,"messages":[{"role":"user","content":"do it"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}]}`
	commitLine = `echo hi > hi.txt && git add hi.txt && git commit -qm "say hi"`
)

// The first answer is a streamed call of the Bash tool; the second, to a
// request that carries the tool's result, a streamed text that ends the
// turn. Every event is framed as the real API frames it.
func TestAnthropicStream(t *testing.T) {
	s := NewAnthropic(Script{Turns: []Turn{{Text: "Let me commit.", Bash: commitLine}, {Text: "Committed hi.txt."}}})
	defer s.Close()

	resp := post(t, s.URL+"/v1/messages?beta=true", firstAsk, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	evs := readAll(t, resp.Body)
	want := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	msg := evs[0].data["message"].(map[string]any)
	if msg["role"] != "assistant" || msg["model"] != "claude-test" || msg["type"] != "message" || msg["usage"] == nil {
		t.Fatalf("message_start: %v", msg)
	}
	if text := deltas(evs, 0, "text"); text != "Let me commit." {
		t.Fatalf("the text block streams %q", text)
	}
	tool := evs[6].data["content_block"].(map[string]any)
	if tool["type"] != "tool_use" || tool["name"] != "Bash" || !strings.HasPrefix(tool["id"].(string), "toolu_") || evs[6].data["index"] != 1.0 {
		t.Fatalf("the tool block starts with %v", evs[6].data)
	}
	var input struct{ Command, Description string }
	if err := json.Unmarshal([]byte(deltas(evs, 1, "partial_json")), &input); err != nil || input.Command != commitLine || input.Description == "" {
		t.Fatalf("the tool's input streams as %+v (%v)", input, err)
	}
	if d := evs[10].data["delta"].(map[string]any); d["stop_reason"] != "tool_use" {
		t.Fatalf("message_delta: %v", evs[10].data)
	}

	evs = readAll(t, post(t, s.URL+"/v1/messages?beta=true", secondAsk, nil).Body)
	want = []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if text := deltas(evs, 0, "text"); text != "Committed hi.txt." {
		t.Fatalf("the final text streams %q", text)
	}
	if d := evs[6].data["delta"].(map[string]any); d["stop_reason"] != "end_turn" {
		t.Fatalf("message_delta: %v", evs[6].data)
	}

	// Past the script: the Done text.
	third := strings.TrimSuffix(secondAsk, "]}") + `,{"role":"assistant","content":"x"},{"role":"user","content":"more"}]}`
	if text := deltas(readAll(t, post(t, s.URL+"/v1/messages", third, nil).Body), 0, "text"); text != "Done." {
		t.Fatalf("past the script: %q", text)
	}
	if n := len(s.Find("POST", "/v1/messages")); n != 3 {
		t.Fatalf("%d requests recorded, want 3", n)
	}
}

func readAll(t *testing.T, body io.Reader) []sseEvent {
	t.Helper()
	r := bufio.NewReader(body)
	var evs []sseEvent
	for {
		ev, ok := readEvent(t, r)
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

func names(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.name)
	}
	return out
}

// deltas joins the field of every delta of block index.
func deltas(evs []sseEvent, index int, field string) string {
	var b strings.Builder
	for _, e := range evs {
		if e.name == "content_block_delta" && e.data["index"] == float64(index) {
			b.WriteString(e.data["delta"].(map[string]any)[field].(string))
		}
	}
	return b.String()
}

// Each event reaches the client as soon as it is written: the stream is
// held before its last event until the client has read the one before.
func TestAnthropicFlushesEachEvent(t *testing.T) {
	seen := make(chan struct{})
	s := NewAnthropic(Script{Turns: []Turn{{Text: "hello"}}, BeforeEvent: func(name string) {
		if name == "message_stop" {
			select {
			case <-seen:
			case <-time.After(30 * time.Second):
			}
		}
	}})
	defer s.Close()
	var r *bufio.Reader
	got := make(chan string)
	go func() {
		resp, err := http.Post(s.URL+"/v1/messages", "application/json", strings.NewReader(firstAsk))
		if err != nil {
			got <- err.Error()
			return
		}
		r = bufio.NewReader(resp.Body)
		for {
			ev, ok, err := parseEvent(r)
			switch {
			case err != nil:
				got <- err.Error()
				return
			case !ok || ev.name == "message_delta":
				got <- ev.name
				return
			}
		}
	}()
	select {
	case name := <-got:
		close(seen)
		if name != "message_delta" {
			t.Fatalf("the stream ended before message_delta: %s", name)
		}
	case <-time.After(5 * time.Second):
		close(seen)
		t.Fatal("message_delta did not arrive while the stream was held: events are not flushed one by one")
	}
	if ev, ok := readEvent(t, r); !ok || ev.name != "message_stop" {
		t.Fatalf("after message_delta: %v %v", ev, ok)
	}
}

// Without "stream": true the answer is one JSON message.
func TestAnthropicJSON(t *testing.T) {
	s := NewAnthropic(Script{Turns: []Turn{{Text: "Let me commit.", Bash: commitLine}}})
	defer s.Close()
	resp := post(t, s.URL+"/v1/messages", strings.Replace(firstAsk, `"stream":true`, `"stream":false`, 1), nil)
	var m struct {
		ID, Type, Role, Model string
		StopReason            string `json:"stop_reason"`
		Content               []struct {
			Type, Text, ID, Name string
			Input                map[string]string
		}
		Usage struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("not a JSON answer (%v, %s)", err, resp.Header.Get("Content-Type"))
	}
	if m.Type != "message" || m.Role != "assistant" || m.StopReason != "tool_use" || len(m.Content) != 2 ||
		m.Content[0].Text != "Let me commit." || m.Content[1].Name != "Bash" || m.Content[1].Input["command"] != commitLine ||
		m.Usage.InputTokens == 0 || m.Usage.OutputTokens == 0 {
		t.Fatalf("answer: %+v", m)
	}
	// OpenCode's shell tool is bash: the call names the tool offered.
	m.Content = nil
	ask := strings.Replace(strings.Replace(firstAsk, `"stream":true`, `"stream":false`, 1), bashTools, `"tools":[{"name":"read"},{"name":"bash"}]`, 1)
	resp = post(t, s.URL+"/v1/messages", ask, nil)
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 2 || m.Content[1].Name != "bash" || m.Content[1].Input["command"] != commitLine {
		t.Fatalf("answer to OpenCode's tools: %+v", m)
	}
}

// A side request that offers no Bash tool gets text, and leaves the
// script where it was.
func TestAnthropicSideRequest(t *testing.T) {
	s := NewAnthropic(Script{Turns: []Turn{{Bash: "true"}}, Done: "side"})
	defer s.Close()
	side := `{"model":"claude-haiku","stream":true,"messages":[{"role":"user","content":"title?"}]}`
	if text := deltas(readAll(t, post(t, s.URL+"/v1/messages", side, nil).Body), 0, "text"); text != "side" {
		t.Fatalf("side request: %q", text)
	}
	if evs := readAll(t, post(t, s.URL+"/v1/messages", firstAsk, nil).Body); evs[1].data["content_block"].(map[string]any)["name"] != "Bash" {
		t.Fatalf("after a side request the script moved: %v", evs[1])
	}
}

// The other endpoints answer as the API does; credentials are checked when
// the script says how, and every request is recorded.
func TestAnthropicOtherEndpoints(t *testing.T) {
	s := NewAnthropic(Script{Authorized: func(h http.Header) bool { return h.Get("x-api-key") == "real" }})
	defer s.Close()
	key := map[string]string{"x-api-key": "real"}

	for _, tc := range []struct {
		method, path string
		header       map[string]string
		status       int
		body         string
	}{
		{"HEAD", "/api/hello", nil, 200, ""},
		{"GET", "/", nil, 200, ""},
		{"POST", "/v1/messages/count_tokens", key, 200, `"input_tokens":`},
		{"GET", "/v1/models", key, 200, `"type":"model"`},
		{"GET", "/v1/models/claude-x", key, 200, `"id":"claude-x"`},
		{"GET", "/v1/nothing", key, 404, `{"error":{"message":"no such endpoint in the scripted API: GET /v1/nothing","type":"not_found_error"},"type":"error"}`},
		{"POST", "/v1/messages", map[string]string{"x-api-key": "terok-phantom-00"}, 401, `"type":"authentication_error"`},
		{"POST", "/v1/messages", key, 400, `"type":"invalid_request_error"`},
	} {
		body := `{"messages":[]}`
		if tc.status == 400 {
			body = "not json"
		}
		var rd io.Reader
		if tc.method == "POST" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(tc.method, s.URL+tc.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
	}
	if n := len(s.Requests()); n != 8 {
		t.Fatalf("%d requests recorded, want 8", n)
	}
	if !s.Seen("terok-phantom-") || s.Seen("terok-phantom-11") || !s.Seen("count_tokens") {
		t.Fatal("Seen does not find what was sent, or finds what was not")
	}
	if sum := s.Summary(); !strings.Contains(sum, "HEAD /api/hello (0 bytes)") || !strings.Contains(sum, "x-api-key") {
		t.Fatalf("summary:\n%s", sum)
	}
}
