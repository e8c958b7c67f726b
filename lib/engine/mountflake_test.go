package engine

import (
	"context"
	"errors"
	"testing"
)

func TestAgainOnMountFlake(t *testing.T) {
	flake := errors.New(`mounting storage for container x: creating overlay mount to /s/overlay/y/merged, mount_data="lowerdir=/s/overlay/y/mapped/0/l/A": permission denied`)
	other := errors.New("creating overlay mount to /s/merged: no space left on device")
	for _, tc := range []struct {
		name  string
		errs  []error
		calls int
		ok    bool
	}{
		{"once refused", []error{flake, nil}, 2, true},
		{"always refused", []error{flake, flake, flake, flake}, mountFlakeTries, false},
		{"another error", []error{other, nil}, 1, false},
		{"fine", []error{nil}, 1, true},
	} {
		calls := 0
		err := againOnMountFlake(context.Background(), func() error {
			calls++
			return tc.errs[calls-1]
		})
		if calls != tc.calls || (err == nil) != tc.ok {
			t.Errorf("%s: %d calls, %v", tc.name, calls, err)
		}
	}
}
