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

// BenchmarkScrubListing: the set scrubs everything a command prints; a
// long listing with a few secrets known must stay cheap.
func BenchmarkScrubListing(b *testing.B) {
	var set secret.Set
	set.Add("Hq4@Zt8#Lm2Yw6", "Vq7Jm2Xz9Rk4Wp", "Tk9Qz4Wv8Lm2Xr7Yq5")
	line := "2024-01-15  archive  committed  archives/2024/01/archive-2024-01-15.json.gz  7200  50  40233  bfc7a1  file:///var/lib/archiver/archives\n"
	msg := strings.Repeat(line, 8000) // about 1 MB
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		_ = set.Scrub(msg)
	}
}
