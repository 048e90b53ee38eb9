package config

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// FuzzParseTable: ParseTable never panics; what it accepts is one or two
// non-empty parts (PostgreSQL has no zero-length identifiers); a name
// without double quotes is split at its dots, nothing else; and quoting
// the parts back ("..." with "" for a quote, joined by a dot) gives a name
// that parses to the same parts, so a configured name always means one
// table, whatever it holds (semicolons, quotes, SQL). The SQL made of the
// parts is a quoted identifier: it starts and ends with a double quote and
// has no lone double quote inside.
func FuzzParseTable(f *testing.F) {
	for _, s := range []string{
		"t", "s.t", `"my.schema"."odd""name"`, `s."x; DROP TABLE y"`, `shizuku."clean; DROP TABLE shizuku.raw_measurements"`,
		"", "a.b.c", ".t", "s.", `"open`, `""`, `"".t`, `"a"b`, `a"b"`, `"a""`, "ü.ß", `"."."."`, "s.\"t\x00\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		parts, err := ParseTable(name)
		if err != nil {
			return
		}
		if len(parts) < 1 || len(parts) > 2 {
			t.Fatalf("ParseTable(%q) = %q: want 1 or 2 parts", name, parts)
		}
		for _, p := range parts {
			if p == "" {
				t.Fatalf("ParseTable(%q) = %q: an empty identifier", name, parts)
			}
		}
		if !strings.Contains(name, `"`) && !reflect.DeepEqual(parts, strings.Split(name, ".")) {
			t.Fatalf("ParseTable(%q) = %q: want it split at its dots", name, parts)
		}
		var quoted []string
		for _, p := range parts {
			quoted = append(quoted, `"`+strings.ReplaceAll(p, `"`, `""`)+`"`)
		}
		again, err := ParseTable(strings.Join(quoted, "."))
		if err != nil || !reflect.DeepEqual(again, parts) {
			t.Fatalf("ParseTable(%q) = %q, but its quoted form %q parses to %q, %v", name, parts, strings.Join(quoted, "."), again, err)
		}
		if !utf8.ValidString(name) {
			return
		}
		for _, p := range parts {
			sql := pgx.Identifier{p}.Sanitize()
			inner := strings.TrimSuffix(strings.TrimPrefix(sql, `"`), `"`)
			if len(sql) < 2 || sql[0] != '"' || sql[len(sql)-1] != '"' || strings.Count(inner, `"`)%2 != 0 || strings.Contains(strings.ReplaceAll(inner, `""`, ""), `"`) {
				t.Fatalf("part %q becomes the SQL %s, not one quoted identifier", p, sql)
			}
		}
	})
}
