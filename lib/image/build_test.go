package image

import (
	"errors"
	"testing"
)

func TestCacheRace(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		race bool
	}{
		{"checking if cached image exists from a previous build: getting top layer info: layer not known", true},
		{"checking if cached image exists from a previous build: image not known", true},
		{"building at STEP \"RUN false\": while running runtime: exit status 1", false},
		{"layer not known", false},
	} {
		if got := cacheRace(errors.New(tc.msg)); got != tc.race {
			t.Errorf("%q: %v", tc.msg, got)
		}
	}
}
