package image

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// OSRelease is what a base image's /etc/os-release says of it.
type OSRelease struct {
	ID         string   `json:"id"`
	IDLike     []string `json:"id_like,omitempty"`
	VersionID  string   `json:"version_id,omitempty"`
	PrettyName string   `json:"pretty_name,omitempty"`
}

// ParseOSRelease reads os-release(5) text: KEY=value lines, values
// optionally quoted with shell quoting; comments and blank lines skipped.
func ParseOSRelease(data []byte) OSRelease {
	var o OSRelease
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = unquote(strings.TrimSpace(v))
		switch strings.TrimSpace(k) {
		case "ID":
			o.ID = strings.ToLower(v)
		case "ID_LIKE":
			o.IDLike = strings.Fields(strings.ToLower(v))
		case "VERSION_ID":
			o.VersionID = v
		case "PRETTY_NAME":
			o.PrettyName = v
		}
	}
	return o
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		if v[0] == '"' {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
		}
		return v[1 : len(v)-1]
	}
	return v
}

// familyOf maps distribution ids (ID, then each of ID_LIKE) to the package
// family terok installs with: deb is apt-get, rpm is dnf. openSUSE is rpm
// but zypper, so it is not here.
var familyOf = map[string]string{
	"debian": "deb", "ubuntu": "deb",
	"fedora": "rpm", "rhel": "rpm", "centos": "rpm", "rocky": "rpm", "almalinux": "rpm",
	"ol": "rpm", "amzn": "rpm",
}

// Family returns the package family of a distribution, from its ID or,
// failing that, the first of its ID_LIKE that terok knows.
func (o OSRelease) Family() (string, error) {
	for _, id := range append([]string{o.ID}, o.IDLike...) {
		if f, ok := familyOf[id]; ok {
			return f, nil
		}
	}
	if o.ID == "" {
		return "", fmt.Errorf("its os-release names no distribution")
	}
	return "", fmt.Errorf("terok knows no package family for the distribution %q (deb: Debian, Ubuntu and their derivatives; rpm: Fedora, RHEL and their derivatives)", o.ID)
}

// cudaOS are the operating systems of NVIDIA's CUDA images, as the last
// part of their tags names them (nvidia/cuda:VERSION-FLAVOUR-OS, like
// 12.4.1-base-ubuntu22.04), and their package families. CentOS 7's tags
// are left out: it has yum, not dnf.
var cudaOS = []struct{ prefix, family string }{
	{"ubuntu", "deb"}, {"ubi", "rpm"}, {"rockylinux", "rpm"},
}

// FamilyByName tells the package family of an NVIDIA CUDA base image
// (nvidia/cuda on any registry) from its tag, without the image: for
// saying which agents install on a base not pulled yet, and for a base
// whose os-release cannot be read. The image's own os-release, when it
// can be read, says the same and wins (Ubuntu: ID=ubuntu; UBI: ID=rhel;
// Rocky Linux: ID=rocky). Any other name: "", false.
func FamilyByName(ref string) (string, bool) {
	ref, _, _ = strings.Cut(ref, "@")
	repo, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if repo != "nvidia/cuda" && !strings.HasSuffix(repo, "/nvidia/cuda") {
		return "", false
	}
	osPart := tag[strings.LastIndex(tag, "-")+1:]
	for _, c := range cudaOS {
		if v, ok := strings.CutPrefix(osPart, c.prefix); ok && v != "" && v[0] >= '0' && v[0] <= '9' {
			return c.family, true
		}
	}
	return "", false
}
