package postgres_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/shizuku-labs/archiver/internal/postgres"
)

// ReadmeNames are the names the README's GRANT statements use: the
// original service's tables, the default manifest schema.
var ReadmeNames = postgres.Names{Role: "archiver", Database: "measurements", ManifestSchema: "archiver",
	Raw: []string{"shizuku", "raw_measurements"}, Clean: []string{"shizuku", "clean_measurements"},
	CleanSequences: [][]string{{"shizuku", "clean_measurements_id_seq"}}}

// TestREADMEGrants: the README lists exactly the grants of
// postgres.Privileges (the list the privilege checks and
// TestLeastPrivileges use), rendered for the default names.
func TestREADMEGrants(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := "```sql\n" + postgres.GrantSQL(ReadmeNames) + "```\n"
	if !strings.Contains(string(b), want) {
		t.Errorf("README.md lacks the GRANT list rendered from postgres.Privileges; put this block in its Database privileges section:\n%s", want)
	}
}

func TestTablePrivileges(t *testing.T) {
	for _, c := range []struct {
		command string
		on      postgres.Object
		want    []string
	}{
		{"archive", postgres.OnCleanTable, []string{"SELECT", "DELETE"}},
		{"archive", postgres.OnRawTable, []string{"SELECT", "DELETE"}},
		{"restore", postgres.OnCleanTable, []string{"SELECT", "INSERT"}},
		{"status", postgres.OnCleanTable, []string{"SELECT"}},
		{"checkin", postgres.OnCleanTable, []string{"SELECT", "DELETE"}},
	} {
		if got := postgres.TablePrivileges(c.command, c.on); !slices.Equal(got, c.want) {
			t.Errorf("TablePrivileges(%s, %v) = %v, want %v", c.command, c.on, got, c.want)
		}
	}
}
