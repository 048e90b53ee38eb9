package envfile

import (
	"strings"
	"testing"
)

// TestParseLikeSystemd: the values an operator puts in the env file, with
// the characters a shell would mangle (& $ ' # = and spaces), come out as
// systemd's EnvironmentFile= reads them.
func TestParseLikeSystemd(t *testing.T) {
	text := strings.Join([]string{
		`# a comment line`,
		`; another comment line`,
		``,
		`DATABASE_URL=postgres://archiver:pa$$w0rd#1@db:5432/m?sslmode=require&application_name=archiver`,
		`ARCHIVER_BUCKET=s3://bucket?region=eu-west-1&endpoint=http://minio:9000&use_path_style=true`,
		`  SPACED  =   a value with spaces   `,
		`SINGLE='it''s $HOME & # not a comment'`,
		`DOUBLE="say \"hi\" \$HOME \\ \q & # kept"`,
		`EQUALS=a=b==c`,
		`EMPTY=`,
		`QUOTED_EMPTY=""`,
		`ESCAPED=a\ b\#c\\d`,
		`CONTINUED=first \`,
		`second`,
		`JOINED='a b'"c d"e`,
		`APOS=O'Brien`,
		"CRLF=value\r",
		"MULTI=\"line one\nline two\"",
		`LAST=no newline at the end`,
	}, "\n")
	got, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Var{
		{"DATABASE_URL", "postgres://archiver:pa$$w0rd#1@db:5432/m?sslmode=require&application_name=archiver", 4},
		{"ARCHIVER_BUCKET", "s3://bucket?region=eu-west-1&endpoint=http://minio:9000&use_path_style=true", 5},
		{"SPACED", "a value with spaces", 6},
		{"SINGLE", "its $HOME & # not a comment", 7},
		{"DOUBLE", `say "hi" $HOME \ \q & # kept`, 8},
		{"EQUALS", "a=b==c", 9},
		{"EMPTY", "", 10},
		{"QUOTED_EMPTY", "", 11},
		{"ESCAPED", `a b#c\d`, 12},
		{"CONTINUED", "first second", 13},
		{"JOINED", "a bc de", 15},
		{"APOS", "O'Brien", 16},
		{"CRLF", "value", 17},
		{"MULTI", "line one\nline two", 18},
		{"LAST", "no newline at the end", 20},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d variables, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("variable %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestParseRefusesWhatSystemdSkips: systemd skips such lines with a
// warning; skipping DATABASE_URL would run against another database.
func TestParseRefusesWhatSystemdSkips(t *testing.T) {
	for text, want := range map[string]string{
		"DATABASE_URL postgres://x\n":   `line 1: "DATABASE_URL postgres://x" has no "="`,
		"OK=1\nexport DATABASE_URL=x\n": `line 2: drop the "export"`,
		"1BAD=x":                        `"1BAD" is not a variable name`,
		"BAD-NAME=x":                    `"BAD-NAME" is not a variable name`,
		"A='unterminated\n":             "unterminated quote",
		"A=\"bell\a\"":                  "control character",
	} {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}

// quote renders v so that Parse reads it back exactly: in double quotes,
// with \ " ` and $ escaped. (A quote opens only where a value starts, so
// the shell's way of writing a single quote inside single quotes does not
// work here.)
func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`).Replace(v) + `"`
}

// FuzzParse: no input makes Parse panic, and every value it accepts, written
// back quoted, reads back the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"A=1\n", "A='x'\"y\"z\\\n w\n", "# c\n;d\nB = \"\\$x\\q\"", "C=a&b $c'd#e=f g", "export A=1", "A='"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		vars, err := Parse(text)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, v := range vars {
			b.WriteString(v.Key + "=" + quote(v.Value) + "\n")
		}
		again, err := Parse(b.String())
		if err != nil {
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		if len(again) != len(vars) {
			t.Fatalf("%d variables, then %d", len(vars), len(again))
		}
		for i := range vars {
			if again[i].Key != vars[i].Key || again[i].Value != vars[i].Value {
				t.Fatalf("variable %d: %+v, then %+v", i, vars[i], again[i])
			}
		}
	})
}
