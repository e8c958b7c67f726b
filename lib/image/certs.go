package image

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// HostCertDirs are where hosts keep their locally added CA certificates:
// Debian and Ubuntu, then Fedora and RHEL.
var HostCertDirs = []string{"/usr/local/share/ca-certificates", "/etc/pki/ca-trust/source/anchors"}

// Bounds on what is copied into L0.
const (
	maxCerts    = 200
	maxCertSize = 1 << 20
)

// HostCertificates reads the PEM certificates under dirs (recursively,
// following links to files), keyed by a flat file name ending in .crt, the
// form both update-ca-certificates and update-ca-trust take. Files that
// hold no certificate are skipped; missing directories are fine.
func HostCertificates(dirs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for i, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			st, err := os.Stat(path)
			if err != nil || !st.Mode().IsRegular() || st.Size() > maxCertSize {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil || !bytes.Contains(data, []byte("-----BEGIN CERTIFICATE-----")) {
				return nil
			}
			if len(out) == maxCerts {
				return fmt.Errorf("more than %d CA certificates under %s", maxCerts, dir)
			}
			rel, _ := filepath.Rel(dir, path)
			out[certName(i, rel)] = data
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func certName(dir int, rel string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '-'
	}, rel)
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".pem"), ".crt")
	return fmt.Sprintf("%d-%s.crt", dir, name)
}
