package secret_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/secret"
)

// TestScrubRemovesEveryRunOfFour: no 4 characters in a row of a secret
// survive, wherever they are quoted (a host name that is half a password),
// and text without secrets is untouched.
func TestScrubRemovesEveryRunOfFour(t *testing.T) {
	const pw = "Hq4@Zt8#Lm2Yw6"
	var set secret.Set
	set.Add(pw, "ab") // too short to scrub by runs
	for _, msg := range []string{
		"lookup Zt8#Lm2Yw6@127.0.0.1: no such host",
		"password " + pw + " refused",
		"parse \"http://AKID:Hq4%40Zt8%23Lm2\": invalid",
		`{"err":"host=Lm2Yw6"}`,
	} {
		got := set.Scrub(msg)
		for i := 0; i+4 <= len(pw); i++ {
			if strings.Contains(got, pw[i:i+4]) {
				t.Errorf("Scrub(%q) = %q keeps %q", msg, got, pw[i:i+4])
			}
		}
	}
	if got := set.Scrub("archive 2024-01-01 ok: about"); got != "archive 2024-01-01 ok: about" {
		t.Errorf("Scrub changed text without secrets: %q", got)
	}
	var b bytes.Buffer
	w := set.Writer(&b)
	if _, err := w.Write([]byte("host=Zt8#Lm2Y\n")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Lm2Y") {
		t.Errorf("Writer passed %q", b.String())
	}
}
