package scriptedapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// AnthropicBashTool is the name of Claude Code's shell tool; OpenCode's
// is AnthropicShellTool. A Bash turn calls whichever of them a request
// offers.
const (
	AnthropicBashTool  = "Bash"
	AnthropicShellTool = "bash"
)

// NewAnthropic starts a scripted Anthropic Messages API:
//
//   - POST /v1/messages (any query, such as Claude Code's ?beta=true): the
//     script's turn, streamed as server-sent events (message_start,
//     content_block_start, ping, content_block_delta, content_block_stop,
//     message_delta, message_stop) when the request says "stream": true,
//     one JSON message otherwise. A Bash turn is a tool_use block of
//     Claude Code's Bash tool (or OpenCode's bash), with stop_reason
//     tool_use; a request that offers neither (a side request) gets the
//     Done text instead.
//   - POST /v1/messages/count_tokens: a token count.
//   - GET /v1/models and /v1/models/ID: one model, the one asked for.
//   - HEAD of any path, and GET /: 200, empty (a reachability check).
//   - anything else: 404 in the API's error shape.
func NewAnthropic(s Script) *Server { return start(s, (*Server).anthropic) }

type anthropicRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

func anthropicError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]string{"type": kind, "message": msg}})
}

func (s *Server) anthropic(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("request-id", s.nextID("req"))
	if r.Method == http.MethodHead || (r.Method == http.MethodGet && r.URL.Path == "/") {
		w.WriteHeader(http.StatusOK)
		return
	}
	if s.script.Authorized != nil && !s.script.Authorized(r.Header) {
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	var req anthropicRequest
	if r.Method == http.MethodPost {
		if err := json.Unmarshal(body, &req); err != nil {
			anthropicError(w, http.StatusBadRequest, "invalid_request_error", "the body is not JSON: "+err.Error())
			return
		}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		s.anthropicMessage(w, req)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		writeJSON(w, http.StatusOK, map[string]int{"input_tokens": tokens(body)})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		m := anthropicModel("claude-sonnet-4-5")
		writeJSON(w, http.StatusOK, map[string]any{"data": []any{m}, "has_more": false, "first_id": m["id"], "last_id": m["id"]})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/models/"):
		writeJSON(w, http.StatusOK, anthropicModel(strings.TrimPrefix(r.URL.Path, "/v1/models/")))
	default:
		anthropicError(w, http.StatusNotFound, "not_found_error", "no such endpoint in the scripted API: "+r.Method+" "+r.URL.Path)
	}
}

func anthropicModel(id string) map[string]any {
	return map[string]any{"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"}
}

// anthropicMessage answers one Messages request with the script's turn.
func (s *Server) anthropicMessage(w http.ResponseWriter, req anthropicRequest) {
	done, shell := 0, ""
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			done++
		}
	}
	for _, t := range req.Tools {
		if t.Name == AnthropicBashTool || t.Name == AnthropicShellTool {
			shell = t.Name
		}
	}
	turn := s.turn(done)
	if turn.Bash != "" && shell == "" {
		turn = Turn{Text: s.script.Done}
	}
	model := req.Model
	if model == "" {
		model = "claude-sonnet-4-5"
	}

	// The content blocks, each as the whole block and as the pieces a
	// stream sends it in.
	type block struct {
		start  map[string]any // content_block_start's block
		whole  map[string]any // the block in a JSON answer
		deltas []map[string]any
	}
	var blocks []block
	if turn.Text != "" {
		half := len(turn.Text) / 2
		blocks = append(blocks, block{
			start: map[string]any{"type": "text", "text": ""},
			whole: map[string]any{"type": "text", "text": turn.Text},
			deltas: []map[string]any{
				{"type": "text_delta", "text": turn.Text[:half]},
				{"type": "text_delta", "text": turn.Text[half:]},
			},
		})
	}
	stop := "end_turn"
	if turn.Bash != "" {
		stop = "tool_use"
		input := map[string]any{"command": turn.Bash, "description": "Run the scripted command"}
		raw, err := json.Marshal(input)
		if err != nil {
			anthropicError(w, http.StatusInternalServerError, "api_error", err.Error())
			return
		}
		id := s.nextID("toolu")
		half := len(raw) / 2
		blocks = append(blocks, block{
			start: map[string]any{"type": "tool_use", "id": id, "name": shell, "input": map[string]any{}},
			whole: map[string]any{"type": "tool_use", "id": id, "name": shell, "input": input},
			deltas: []map[string]any{
				{"type": "input_json_delta", "partial_json": string(raw[:half])},
				{"type": "input_json_delta", "partial_json": string(raw[half:])},
			},
		})
	}
	in, out := 10*len(req.Messages)+1, 1+len(turn.Text)/4+len(turn.Bash)/4
	id := s.nextID("msg")

	if !req.Stream {
		content := make([]any, 0, len(blocks))
		for _, b := range blocks {
			content = append(content, b.whole)
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": model, "content": content,
			"stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]int{"input_tokens": in, "output_tokens": out},
		})
		return
	}

	ev := newEvents(w, s.script.BeforeEvent)
	ev.send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": in, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1},
	}})
	for i, b := range blocks {
		ev.send("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": b.start})
		if i == 0 {
			ev.send("ping", map[string]any{"type": "ping"})
		}
		for _, d := range b.deltas {
			ev.send("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": d})
		}
		ev.send("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	ev.send("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]int{"output_tokens": out}})
	ev.send("message_stop", map[string]any{"type": "message_stop"})
}
