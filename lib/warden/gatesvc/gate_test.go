package gatesvc

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A quarantined task's gate answers 403 to everything, and opens again
// when the quarantine ends.
func TestClosedGate(t *testing.T) {
	var closed atomic.Bool
	s := &Service{Endpoint: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }),
		Closed: closed.Load}
	h := s.guard(s.Endpoint)
	for _, tc := range []struct {
		closed bool
		want   int
	}{{false, http.StatusTeapot}, {true, http.StatusForbidden}, {false, http.StatusTeapot}} {
		closed.Store(tc.closed)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/web.git/git-receive-pack", nil))
		if w.Code != tc.want {
			t.Fatalf("closed %v: status %d, want %d", tc.closed, w.Code, tc.want)
		}
	}
	// Without Closed the endpoint is served as it is.
	open := &Service{Endpoint: s.Endpoint}
	w := httptest.NewRecorder()
	open.guard(open.Endpoint).ServeHTTP(w, httptest.NewRequest("GET", "/web.git/info/refs", nil))
	if w.Code != http.StatusTeapot {
		t.Fatalf("status %d", w.Code)
	}
}
