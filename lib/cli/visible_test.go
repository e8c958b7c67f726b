package cli

import "testing"

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext\n":        "plain\ttext\n",
		"\x1b[2Jclear":         "^[[2Jclear",
		"bell\a del\x7f":       "bell^G del^?",
		"csi \u009b31m ok ünï": "csi ?31m ok ünï",
		"\r\x00":               "^M^@",
	} {
		if got := string(Visible([]byte(in))); got != want {
			t.Errorf("Visible(%q) = %q, want %q", in, got, want)
		}
	}
}
