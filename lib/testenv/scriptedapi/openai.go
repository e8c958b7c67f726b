package scriptedapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// NewOpenAI starts a scripted OpenAI Responses API:
//
//   - POST /v1/responses (also /responses, for a base URL without /v1):
//     the script's turn, streamed as server-sent events
//     (response.created, response.in_progress, then per output item
//     response.output_item.added, its deltas and dones, and
//     response.completed) when the request says "stream": true, one JSON
//     response otherwise. A Bash turn is a function_call of the shell tool
//     the request offers (Codex's shell, shell_command or exec_command,
//     with the arguments each takes); a request that offers none gets the
//     Done text instead.
//   - GET /v1/models and /v1/models/ID: one model.
//   - HEAD of any path, and GET /: 200, empty.
//   - anything else: 404 in the API's error shape.
func NewOpenAI(s Script) *Server { return start(s, (*Server).openai) }

type openaiRequest struct {
	Model  string            `json:"model"`
	Stream bool              `json:"stream"`
	Input  []json.RawMessage `json:"input"`
	Tools  []openaiTool      `json:"tools"`
}

// openaiTool is a tool a request offers; a namespace holds more.
type openaiTool struct {
	Type  string       `json:"type"`
	Name  string       `json:"name"`
	Tools []openaiTool `json:"tools"`
}

func openaiError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"type": kind, "message": msg, "code": nil, "param": nil}})
}

func (s *Server) openai(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("x-request-id", s.nextID("req"))
	if r.Method == http.MethodHead || (r.Method == http.MethodGet && r.URL.Path == "/") {
		w.WriteHeader(http.StatusOK)
		return
	}
	if s.script.Authorized != nil && !s.script.Authorized(r.Header) {
		openaiError(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided.")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	switch {
	case r.Method == http.MethodPost && path == "/responses":
		var req openaiRequest
		if err := json.Unmarshal(body, &req); err != nil {
			openaiError(w, http.StatusBadRequest, "invalid_request_error", "the body is not JSON: "+err.Error())
			return
		}
		s.openaiResponse(w, req)
	case r.Method == http.MethodGet && path == "/models":
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{openaiModel("gpt-5-codex")}})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/models/"):
		writeJSON(w, http.StatusOK, openaiModel(strings.TrimPrefix(path, "/models/")))
	default:
		openaiError(w, http.StatusNotFound, "invalid_request_error", "no such endpoint in the scripted API: "+r.Method+" "+r.URL.Path)
	}
}

func openaiModel(id string) map[string]any {
	return map[string]any{"id": id, "object": "model", "created": 1735689600, "owned_by": "openai"}
}

// assistantTurns counts the assistant's turns in a Responses input: runs
// of output items (its messages, function calls, reasoning) between the
// user's and the tools' items.
func assistantTurns(input []json.RawMessage) int {
	n, in := 0, false
	for _, raw := range input {
		var it struct{ Type, Role string }
		_ = json.Unmarshal(raw, &it) // an item of another shape is not the assistant's
		mine := it.Role == "assistant" || it.Type == "function_call" || it.Type == "reasoning" ||
			it.Type == "local_shell_call" || it.Type == "custom_tool_call"
		if mine && !in {
			n++
		}
		in = mine
	}
	return n
}

// openaiShellCall is the call of the shell tool the request offers, in the
// form that tool takes: a function call of Codex's shell (an argv),
// shell_command or exec_command (a command line); or, where Codex offers
// its tools only to JavaScript (its "code mode", an input item of
// additional tools with a custom tool exec), a custom call of exec whose
// script runs the command through exec_command and returns its output.
func openaiShellCall(req openaiRequest, command string) (name string, function bool, args any) {
	for _, t := range req.Tools {
		switch t.Name {
		case "shell":
			return t.Name, true, map[string]any{"command": []string{"bash", "-lc", command}}
		case "shell_command":
			return t.Name, true, map[string]any{"command": command}
		case "exec_command":
			return t.Name, true, map[string]any{"cmd": command}
		}
	}
	for _, raw := range req.Input {
		var it struct {
			Type  string       `json:"type"`
			Tools []openaiTool `json:"tools"`
		}
		if json.Unmarshal(raw, &it) != nil || it.Type != "additional_tools" {
			continue
		}
		if hasCustomExec(it.Tools) {
			cmd, err := json.Marshal(command)
			if err != nil {
				return "", false, nil
			}
			return "exec", false, "const r = await tools.exec_command({cmd: " + string(cmd) + "});\ntext(r.output);\n"
		}
	}
	return "", false, nil
}

func hasCustomExec(ts []openaiTool) bool {
	for _, t := range ts {
		if t.Type == "custom" && t.Name == "exec" || hasCustomExec(t.Tools) {
			return true
		}
	}
	return false
}

// openaiResponse answers one Responses request with the script's turn.
func (s *Server) openaiResponse(w http.ResponseWriter, req openaiRequest) {
	turn := s.turn(assistantTurns(req.Input))
	tool, function, args := openaiShellCall(req, turn.Bash)
	if turn.Bash != "" && tool == "" {
		turn = Turn{Text: s.script.Done}
	}
	model := req.Model
	if model == "" {
		model = "gpt-5-codex"
	}
	respID := s.nextID("resp")
	created := time.Now().Unix()
	usage := map[string]any{"input_tokens": 10*len(req.Input) + 1, "input_tokens_details": map[string]int{"cached_tokens": 0},
		"output_tokens": 1 + len(turn.Text)/4 + len(turn.Bash)/4, "output_tokens_details": map[string]int{"reasoning_tokens": 0}}
	usage["total_tokens"] = usage["input_tokens"].(int) + usage["output_tokens"].(int)
	response := func(status string, output []any) map[string]any {
		r := map[string]any{"id": respID, "object": "response", "created_at": created, "status": status, "model": model,
			"output": output, "error": nil, "incomplete_details": nil, "parallel_tool_calls": false, "tool_choice": "auto"}
		if status == "completed" {
			r["usage"] = usage
		}
		return r
	}

	// The output items, each as its finished form and the events that
	// stream it (after response.output_item.added, before .done).
	type item struct {
		added, done map[string]any
		events      []map[string]any // without sequence_number, output_index
	}
	var items []item
	if turn.Text != "" {
		id := s.nextID("msg")
		half := len(turn.Text) / 2
		part := func(text string) map[string]any {
			return map[string]any{"type": "output_text", "text": text, "annotations": []any{}}
		}
		msg := func(status string, content []any) map[string]any {
			return map[string]any{"id": id, "type": "message", "status": status, "role": "assistant", "content": content}
		}
		at := map[string]any{"item_id": id, "content_index": 0}
		with := func(m map[string]any) map[string]any {
			for k, v := range at {
				m[k] = v
			}
			return m
		}
		items = append(items, item{
			added: msg("in_progress", []any{}),
			done:  msg("completed", []any{part(turn.Text)}),
			events: []map[string]any{
				with(map[string]any{"type": "response.content_part.added", "part": part("")}),
				with(map[string]any{"type": "response.output_text.delta", "delta": turn.Text[:half], "logprobs": []any{}}),
				with(map[string]any{"type": "response.output_text.delta", "delta": turn.Text[half:], "logprobs": []any{}}),
				with(map[string]any{"type": "response.output_text.done", "text": turn.Text, "logprobs": []any{}}),
				with(map[string]any{"type": "response.content_part.done", "part": part(turn.Text)}),
			},
		})
	}
	if turn.Bash != "" && function {
		raw, err := json.Marshal(args)
		if err != nil {
			openaiError(w, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		id, call := s.nextID("fc"), s.nextID("call")
		fc := func(status, arguments string) map[string]any {
			return map[string]any{"id": id, "type": "function_call", "status": status, "call_id": call, "name": tool, "arguments": arguments}
		}
		half := len(raw) / 2
		items = append(items, item{
			added: fc("in_progress", ""),
			done:  fc("completed", string(raw)),
			events: []map[string]any{
				{"type": "response.function_call_arguments.delta", "item_id": id, "delta": string(raw[:half])},
				{"type": "response.function_call_arguments.delta", "item_id": id, "delta": string(raw[half:])},
				{"type": "response.function_call_arguments.done", "item_id": id, "arguments": string(raw)},
			},
		})
	}
	if turn.Bash != "" && !function {
		script := args.(string)
		id, call := s.nextID("ctc"), s.nextID("call")
		ctc := func(status, input string) map[string]any {
			return map[string]any{"id": id, "type": "custom_tool_call", "status": status, "call_id": call, "name": tool, "input": input}
		}
		half := len(script) / 2
		items = append(items, item{
			added: ctc("in_progress", ""),
			done:  ctc("completed", script),
			events: []map[string]any{
				{"type": "response.custom_tool_call_input.delta", "item_id": id, "delta": script[:half]},
				{"type": "response.custom_tool_call_input.delta", "item_id": id, "delta": script[half:]},
				{"type": "response.custom_tool_call_input.done", "item_id": id, "input": script},
			},
		})
	}
	output := make([]any, 0, len(items))
	for _, it := range items {
		output = append(output, it.done)
	}

	if !req.Stream {
		writeJSON(w, http.StatusOK, response("completed", output))
		return
	}
	ev := newEvents(w, s.script.BeforeEvent)
	seq := 0
	send := func(m map[string]any) {
		m["sequence_number"] = seq
		seq++
		ev.send(m["type"].(string), m)
	}
	send(map[string]any{"type": "response.created", "response": response("in_progress", []any{})})
	send(map[string]any{"type": "response.in_progress", "response": response("in_progress", []any{})})
	for i, it := range items {
		send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": it.added})
		for _, e := range it.events {
			e["output_index"] = i
			send(e)
		}
		send(map[string]any{"type": "response.output_item.done", "output_index": i, "item": it.done})
	}
	send(map[string]any{"type": "response.completed", "response": response("completed", output)})
}
