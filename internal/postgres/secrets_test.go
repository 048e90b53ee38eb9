package postgres

import (
	"slices"
	"testing"

	"github.com/shizuku-labs/archiver/internal/secret"
)

// TestSecretsOfKeywordValuePasswords: a key=value connection string's
// password is found whole, however it is quoted or spaced (libpq's rules),
// so the process-wide secret set knows it. Splitting on spaces found only
// a piece ("p"), which hid nothing of the rest and, being too short for
// runs, masked every "p" of the connection error ("FATAL: xxxxxassword
// authentication failed").
func TestSecretsOfKeywordValuePasswords(t *testing.T) {
	cases := []struct{ dsn, password string }{
		{`host=127.0.0.1 port=5432 user=u password='p W#$x&y@z\'q' dbname=d`, `p W#$x&y@z'q`},
		{`host=127.0.0.1 user=u password = 'two spaced-Secret' dbname=d`, "two spaced-Secret"},
		{`host=127.0.0.1 user=u password=plain-secret dbname=d`, "plain-secret"},
		{`postgres://u:Zq%409%23x%25Kp!w@127.0.0.1/db`, "Zq@9#x%Kp!w"},
	}
	for _, c := range cases {
		got := Secrets(c.dsn)
		if !slices.Contains(got, c.password) {
			t.Errorf("%s: secrets %q lack the password %q", c.dsn, got, c.password)
		}
		for _, s := range got {
			if len(s) < secret.MinRun {
				t.Errorf("%s: secrets hold %q, a piece too short to scrub by runs", c.dsn, s)
			}
		}
		const msg = `failed SASL auth: FATAL: password authentication failed for user "u" (SQLSTATE 28P01)`
		if out := scrub(msg, got); out != msg {
			t.Errorf("%s: the connection error was garbled: %s", c.dsn, out)
		}
	}
}
