package image

import (
	"archive/tar"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
)

// The os-release files of NVIDIA's CUDA bases, as those distributions
// ship them (trimmed to the keys that matter): detection tells their
// families without any help.
var cudaOSReleases = []struct{ name, osRelease, id, family string }{
	{"ubuntu22.04", "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n", "ubuntu", "deb"},
	{"ubuntu20.04", "NAME=\"Ubuntu\"\nVERSION=\"20.04.6 LTS (Focal Fossa)\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"20.04\"\n", "ubuntu", "deb"},
	{"ubi9", "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.4 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n", "rhel", "rpm"},
	{"ubi8", "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"8.10 (Ootpa)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"8.10\"\n", "rhel", "rpm"},
	{"rockylinux9", "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n", "rocky", "rpm"},
	{"rockylinux8", "NAME=\"Rocky Linux\"\nVERSION=\"8.9 (Green Obsidian)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.9\"\n", "rocky", "rpm"},
}

func TestCUDAOSReleaseFamilies(t *testing.T) {
	for _, tc := range cudaOSReleases {
		o := ParseOSRelease([]byte(tc.osRelease))
		f, err := o.Family()
		if err != nil || f != tc.family || o.ID != tc.id {
			t.Errorf("%s: %+v %s %v", tc.name, o, f, err)
		}
		// The name says the same as the image.
		if byName, ok := FamilyByName("nvidia/cuda:12.4.1-base-" + tc.name); !ok || byName != tc.family {
			t.Errorf("%s by name: %q %v, want %s", tc.name, byName, ok, tc.family)
		}
	}
}

func TestFamilyByName(t *testing.T) {
	for _, tc := range []struct {
		ref, family string // "": not told by name
	}{
		{"nvidia/cuda:12.4.1-base-ubuntu22.04", "deb"},
		{"docker.io/nvidia/cuda:12.4.1-cudnn-devel-ubuntu20.04", "deb"},
		{"nvcr.io/nvidia/cuda:12.4.1-runtime-ubi9", "rpm"},
		{"nvidia/cuda:12.2.0-devel-rockylinux8", "rpm"},
		{"nvidia/cuda:11.8.0-base-ubi8@sha256:" + strings.Repeat("a", 64), "rpm"},
		{"mirror.example:5000/hub/nvidia/cuda:12.4.1-base-ubuntu24.04", "deb"},
		{"nvidia/cuda:11.8.0-base-centos7", ""}, // yum, no dnf
		{"nvidia/cuda:12.4.1-base-ubuntu", ""},
		{"nvidia/cuda", ""},
		{"nvidia/cuda@sha256:" + strings.Repeat("a", 64), ""},
		{"nvidia/cudagl:11.4.2-base-ubuntu20.04", ""},
		{"example.com/notnvidia/cuda:12.4.1-base-ubuntu22.04", ""},
		{"ubuntu:22.04", ""},
		{"redhat/ubi9:latest", ""},
		{"localhost/terok/debian:bookworm", ""},
	} {
		f, ok := FamilyByName(tc.ref)
		if f != tc.family || ok != (tc.family != "") {
			t.Errorf("%s: %q %v, want %q", tc.ref, f, ok, tc.family)
		}
	}
}

// Real images that hold only a CUDA base's os-release (made here: no
// registry answers) are told right by reading it, under names that are not
// nvidia/cuda's, so that the name cannot be what tells them.
func TestCUDAFamilyDetection(t *testing.T) {
	te := newTestEnv(t)
	b := te.builder(nil)
	for _, tc := range cudaOSReleases {
		var tarball bytes.Buffer
		tw := tar.NewWriter(&tarball)
		for _, h := range []*tar.Header{{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "etc/os-release", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(tc.osRelease))}} {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tw.Write([]byte(tc.osRelease)); err != nil {
			t.Fatal(err)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		ref := "localhost/terok-test/cuda-like:" + tc.name + "-" + randomHex(4)
		cmd := exec.Command("podman", "import", "-", ref)
		cmd.Stdin = &tarball
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("podman import: %v", err)
		}
		te.removeAfter(t, strings.TrimSpace(string(out)))
		if f, err := b.Family(context.Background(), ref); err != nil || f != tc.family {
			t.Errorf("%s: %q %v, want %s", tc.name, f, err, tc.family)
		}
	}
	// Not pulled: told by name, as terok-image agents --base does.
	if f, err := b.Family(context.Background(), "nvcr.io/nvidia/cuda:12.4.1-base-ubi9-terok-absent"); err == nil {
		t.Errorf("a name that is no CUDA tag: %q", f)
	}
	if f, err := b.Family(context.Background(), "nvcr.io/nvidia/cuda:99.0.0-terok-absent-ubi9"); err != nil || f != "rpm" {
		t.Errorf("a CUDA base not pulled: %q %v", f, err)
	}
}
