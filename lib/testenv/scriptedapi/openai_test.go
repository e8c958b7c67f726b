package scriptedapi

import (
	"bufio"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const (
	userItem   = `{"type":"message","role":"user","content":[{"type":"input_text","text":"do it"}]}`
	classicAsk = `{"model":"gpt-test","stream":true,"tools":[{"type":"function","name":"exec_command"},{"type":"web_search"}],"input":[` + userItem + `]}`
	codeAsk    = `{"model":"gpt-test","stream":true,"input":[{"type":"additional_tools","role":"developer","tools":[{"type":"namespace","name":"functions","tools":[{"type":"custom","name":"exec"}]}]},` + userItem + `]}`
)

// readResponses reads a Responses stream: every event framed as the API
// frames it, numbered from 0 in order.
func readResponses(t *testing.T, resp *http.Response) []sseEvent {
	t.Helper()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	evs := readAll(t, bufio.NewReader(resp.Body))
	for i, e := range evs {
		if e.data["sequence_number"] != float64(i) {
			t.Fatalf("event %d (%s) has sequence_number %v", i, e.name, e.data["sequence_number"])
		}
	}
	return evs
}

// The first answer calls the shell tool the request offers; the answer to
// a request carrying the call and its output ends the turn with text.
func TestOpenAIStream(t *testing.T) {
	s := NewOpenAI(Script{Turns: []Turn{{Text: "Let me commit.", Bash: commitLine}, {Text: "Committed hi.txt."}}})
	defer s.Close()

	evs := readResponses(t, post(t, s.URL+"/v1/responses", classicAsk, nil))
	want := []string{"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done", "response.completed"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	var text, args string
	for _, e := range evs {
		switch e.name {
		case "response.output_text.delta":
			text += e.data["delta"].(string)
		case "response.function_call_arguments.delta":
			args += e.data["delta"].(string)
		}
	}
	var call struct{ Cmd string }
	if err := json.Unmarshal([]byte(args), &call); err != nil || text != "Let me commit." || call.Cmd != commitLine {
		t.Fatalf("text %q, arguments %q (%v)", text, args, err)
	}
	done := evs[len(evs)-1].data["response"].(map[string]any)
	out := done["output"].([]any)
	fc := out[1].(map[string]any)
	if done["status"] != "completed" || done["usage"] == nil || len(out) != 2 || fc["type"] != "function_call" ||
		fc["name"] != "exec_command" || fc["arguments"] != args || fc["call_id"] == "" {
		t.Fatalf("response.completed: %v", done)
	}

	second := strings.TrimSuffix(classicAsk, "]}") + `,{"type":"message","role":"assistant","content":[]},{"type":"function_call","call_id":"c1","name":"exec_command","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"ok"}]}`
	evs = readResponses(t, post(t, s.URL+"/v1/responses", second, nil))
	text = ""
	for _, e := range evs {
		if e.name == "response.output_text.delta" {
			text += e.data["delta"].(string)
		}
		if e.name == "response.function_call_arguments.delta" {
			t.Fatal("the second answer calls a tool again")
		}
	}
	if text != "Committed hi.txt." {
		t.Fatalf("second answer: %q", text)
	}
}

// Codex's code mode offers its tools only to a JavaScript tool, exec: the
// call is a custom tool call whose script runs the command.
func TestOpenAICodeMode(t *testing.T) {
	s := NewOpenAI(Script{Turns: []Turn{{Bash: commitLine}}})
	defer s.Close()
	evs := readResponses(t, post(t, s.URL+"/v1/responses", codeAsk, nil))
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.custom_tool_call_input.delta",
		"response.custom_tool_call_input.delta", "response.custom_tool_call_input.done", "response.output_item.done", "response.completed"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	item := evs[6].data["item"].(map[string]any)
	quoted, _ := json.Marshal(commitLine)
	if item["type"] != "custom_tool_call" || item["name"] != "exec" ||
		!strings.Contains(item["input"].(string), "tools.exec_command({cmd: "+string(quoted)+"})") {
		t.Fatalf("the call: %v", item)
	}
}

// Without "stream": true the answer is one JSON response; a request that
// offers no shell gets the Done text; the other endpoints answer.
func TestOpenAIOther(t *testing.T) {
	s := NewOpenAI(Script{Turns: []Turn{{Bash: "true"}}, Done: "nothing to run",
		Authorized: func(h http.Header) bool { return h.Get("Authorization") == "Bearer real" }})
	defer s.Close()
	key := map[string]string{"Authorization": "Bearer real"}

	var r struct {
		Object, Status string
		Output         []struct {
			Type, Name string
			Content    []struct{ Text string }
		}
	}
	resp := post(t, s.URL+"/v1/responses", strings.Replace(classicAsk, `"stream":true`, `"stream":false`, 1), key)
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Object != "response" || r.Status != "completed" ||
		len(r.Output) != 1 || r.Output[0].Type != "function_call" || r.Output[0].Name != "exec_command" {
		t.Fatalf("JSON answer: %+v (%v)", r, err)
	}
	noTools := `{"stream":false,"input":[` + userItem + `]}`
	resp = post(t, s.URL+"/responses", noTools, key)
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Output) != 1 || r.Output[0].Content[0].Text != "nothing to run" {
		t.Fatalf("without a shell tool: %+v (%v)", r, err)
	}
	if resp := post(t, s.URL+"/v1/responses", noTools, map[string]string{"Authorization": "Bearer terok-phantom-1"}); resp.StatusCode != 401 {
		t.Fatalf("a wrong key got %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", s.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer real")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("models: %v %v", resp, err)
	}
}

func TestAssistantTurns(t *testing.T) {
	for in, want := range map[string]int{
		`[]`:                0,
		`[{"role":"user"}]`: 0,
		`[{"role":"user"},{"role":"assistant"},{"type":"function_call"},{"type":"function_call_output"}]`:                                      1,
		`[{"role":"user"},{"type":"reasoning"},{"type":"function_call"},{"type":"function_call_output"},{"role":"assistant"},{"role":"user"}]`: 2,
	} {
		var items []json.RawMessage
		if err := json.Unmarshal([]byte(in), &items); err != nil {
			t.Fatal(err)
		}
		if got := assistantTurns(items); got != want {
			t.Errorf("%s: %d turns, want %d", in, got, want)
		}
	}
}
