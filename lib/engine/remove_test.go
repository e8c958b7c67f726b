package engine

import (
	"errors"
	"testing"
)

// Only Podman's refusal to remove a container whose /dev/shm is still
// mounted is asked again; any other busy resource is an answer.
func TestShmBusy(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("removing container 51b3 root filesystem: 1 error occurred:\n\t* unlinkat /var/lib/containers/storage/overlay-containers/51b3/userdata/shm: device or resource busy"), true},
		{errors.New("removing volume v: device or resource busy"), false},
		{errors.New("unlinkat /x/userdata/shm: permission denied"), false},
		{nil, false},
	} {
		if got := shmBusy(tc.err); got != tc.want {
			t.Errorf("shmBusy(%v) = %v", tc.err, got)
		}
	}
}
