package project

import (
	"slices"
	"strings"
	"testing"

	"github.com/terok-ai/terok-go/lib/config"
)

// A project's egress profiles are written as [shield] profiles and read
// back as they were; a project without them has no [shield] table.
func TestEncodeShieldProfiles(t *testing.T) {
	p := config.DefaultProject()
	p.Image.Agents = []string{"claude", "command"}
	p.Shield.Profiles = []string{"base", "node"}
	data := Encode("demo", p)
	if !strings.Contains(string(data), "\n[shield]\nprofiles = [\"base\", \"node\"]\n") {
		t.Fatalf("encoded:\n%s", data)
	}
	back, err := config.DecodeProject("project.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Shield.Profiles, p.Shield.Profiles) || !slices.Equal(back.Image.Agents, p.Image.Agents) {
		t.Fatalf("read back %+v", back)
	}
	if s := string(Encode("demo", config.DefaultProject())); strings.Contains(s, "[shield]") {
		t.Fatalf("no profiles, yet:\n%s", s)
	}
}
