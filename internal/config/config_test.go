package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite config.example.yaml from the settings table")

const examplePath = "../../config.example.yaml"

// TestExampleIsComplete: the example names every setting the loader knows
// with its env var and flag, and the loader understands every key in it.
func TestExampleIsComplete(t *testing.T) {
	want := Example()
	if *update {
		if err := os.WriteFile(examplePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("config.example.yaml is out of date with the settings table; run: go test ./internal/config -run TestExampleIsComplete -update")
	}
	for _, s := range Settings() {
		for _, w := range append([]string{"--" + s.Flag, s.Key[strings.LastIndex(s.Key, ".")+1:] + ":"}, s.Env...) {
			if !strings.Contains(string(got), w) {
				t.Errorf("example lacks %q of setting %s", w, s.Key)
			}
		}
	}
	var c Config
	if err := LoadFile(&c, examplePath); err != nil {
		t.Fatalf("loader rejects the example: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("example values differ from the defaults:\n%+v\n%+v", c, Default())
	}
}

func TestEverySettingIsReachable(t *testing.T) {
	seenFlag, seenEnv := map[string]bool{}, map[string]bool{}
	for _, s := range Settings() {
		if s.Flag == "" || len(s.Env) == 0 || s.Usage == "" {
			t.Errorf("%s lacks a flag, env var or usage", s.Key)
		}
		if seenFlag[s.Flag] {
			t.Errorf("flag --%s used twice", s.Flag)
		}
		seenFlag[s.Flag] = true
		for _, e := range s.Env {
			if seenEnv[e] {
				t.Errorf("env %s used twice", e)
			}
			seenEnv[e] = true
		}
		// Every setting round-trips through its text form.
		c := Default()
		if err := s.Set(&c, s.Get(&c)); err != nil {
			t.Errorf("%s: %v", s.Key, err)
		}
	}
}

func TestOriginalVariablesKeepTheirDefaults(t *testing.T) {
	c := Default()
	if c.Raw.RetentionDays != 1 || c.Clean.RetentionDays != 30 || c.Raw.BatchSize != 1000 || c.DryRun {
		t.Errorf("defaults differ from the original service: %+v", c)
	}
	env := map[string]string{
		"DATABASE_URL": "postgres://u@h/db", "ARCHIVER_RAW_RETENTION_DAYS": "2", "ARCHIVER_CLEAN_RETENTION_DAYS": "60",
		"ARCHIVER_BATCH_SIZE": "500", "ARCHIVER_DRY_RUN": "TRUE",
	}
	c, err := Load(Sources{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "postgres://u@h/db" || c.Raw.RetentionDays != 2 || c.Clean.RetentionDays != 60 || c.Raw.BatchSize != 500 || !c.DryRun {
		t.Errorf("original variables not honoured: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("raw:\n  retention_days: 3\n  batch_size: 7\narchive:\n  concurrency: 5\ndatabase:\n  connect_timeout: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ARCHIVER_BATCH_SIZE": "8", "ARCHIVER_CONCURRENCY": "6"}
	c, err := Load(Sources{File: p, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Flags: map[string]string{"concurrency": "9"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Raw.RetentionDays != 3 || c.Raw.BatchSize != 8 || c.Archive.Concurrency != 9 || c.Database.ConnectTimeout != 3*time.Second {
		t.Errorf("precedence wrong: retention %d (file 3) batch %d (env 8) concurrency %d (flag 9) timeout %s",
			c.Raw.RetentionDays, c.Raw.BatchSize, c.Archive.Concurrency, c.Database.ConnectTimeout)
	}
}

func TestValidationNamesTheSetting(t *testing.T) {
	c := Default()
	c.Clean.RetentionDays = 0
	c.Log.Format = "xml"
	err := c.Validate()
	var se *SettingError
	if !errors.As(err, &se) {
		t.Fatalf("want a SettingError, got %v", err)
	}
	for _, w := range []string{"clean.retention_days", "ARCHIVER_CLEAN_RETENTION_DAYS", "--clean-retention-days", "log.format", `"xml"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

func TestParseTable(t *testing.T) {
	cases := map[string][]string{
		"t":                       {"t"},
		"s.t":                     {"s", "t"},
		`"my.schema"."odd""name"`: {"my.schema", `odd"name`},
		`s."x; DROP TABLE y"`:     {"s", "x; DROP TABLE y"},
	}
	for in, want := range cases {
		got, err := ParseTable(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseTable(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a.b.c", ".t", "s.", `"open`} {
		if _, err := ParseTable(bad); err == nil {
			t.Errorf("ParseTable(%q) accepted", bad)
		}
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table in
// step with the settings table.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		row := "| `" + s.Key + "` | `" + strings.Join(s.Env, "`, `") + "` | `--" + s.Flag + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README configuration table lacks the row for %s: %s", s.Key, row)
		}
	}
}

// TestYAMLValuesParseLikeTheEnvironment: yaml.v3 alone truncates 10.5 to 10
// for a whole-number setting and ignores a second document; both must be
// errors naming the setting (or the document), as the environment refuses
// 10.5.
func TestYAMLValuesParseLikeTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		want       []string
	}{
		{"float retention", "clean:\n  retention_days: 10.5\n", []string{"clean.retention_days", `"10.5" is not a whole number`, "ARCHIVER_CLEAN_RETENTION_DAYS"}},
		{"float batch size", "raw:\n  batch_size: 1e3\n", []string{"raw.batch_size"}},
		{"bare number duration", "database:\n  connect_timeout: 15\n", []string{"database.connect_timeout", "not a duration"}},
		{"second document", "clean:\n  retention_days: 60\n---\nclean:\n  retention_days: 1\n", []string{"second YAML document", "line 3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := Default()
			err := LoadFile(&cfg, p)
			if err == nil {
				t.Fatalf("accepted; clean.retention_days=%d raw.batch_size=%d connect_timeout=%s", cfg.Clean.RetentionDays, cfg.Raw.BatchSize, cfg.Database.ConnectTimeout)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
	// A whole number and a duration (and a trailing "---") still load.
	p := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(p, []byte("clean:\n  retention_days: 45\nraw:\n  batch_size: 500\ndatabase:\n  connect_timeout: 20s\n---\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if err := LoadFile(&cfg, p); err != nil {
		t.Fatal(err)
	}
	if cfg.Clean.RetentionDays != 45 || cfg.Raw.BatchSize != 500 || cfg.Database.ConnectTimeout != 20*time.Second {
		t.Errorf("loaded %+v", cfg)
	}
}

// TestUnknownArchiverVariable: an ARCHIVER_ variable no setting reads is a
// typo until shown otherwise; ignored, its setting would keep its default
// (ARCHIVER_CLEAN_RETENTON_DAYS=365 archives and deletes after 30 days).
func TestUnknownArchiverVariable(t *testing.T) {
	env := map[string]string{"ARCHIVER_CLEAN_RETENTON_DAYS": "365", "ARCHIVER_CLEAN_EXTRA_COLUMNS": "station", "ARCHIVER_WHATEVER_ELSE": "1"}
	environ := func() []string {
		out := []string{"PATH=/bin", "ARCHIVER_TEST_DATABASE_URL=postgres://x", "ARCHIVER_ENV_FILE=/etc/archiver.env", "ARCHIVER_FAILPOINTS="}
		for k, v := range env {
			out = append(out, k+"="+v)
		}
		return out
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := Load(Sources{LookupEnv: lookup, Environ: environ})
	if err == nil {
		t.Fatal("misspelt ARCHIVER_ variables were ignored")
	}
	for _, want := range []string{"ARCHIVER_CLEAN_RETENTON_DAYS", "did you mean ARCHIVER_CLEAN_RETENTION_DAYS?", "ARCHIVER_WHATEVER_ELSE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	for _, not := range []string{"ARCHIVER_CLEAN_EXTRA_COLUMNS", "ARCHIVER_TEST_DATABASE_URL", "ARCHIVER_ENV_FILE", "ARCHIVER_FAILPOINTS", "PATH"} {
		if strings.Contains(err.Error(), not) {
			t.Errorf("error names a known variable %s: %v", not, err)
		}
	}
	delete(env, "ARCHIVER_CLEAN_RETENTON_DAYS")
	delete(env, "ARCHIVER_WHATEVER_ELSE")
	if _, err := Load(Sources{LookupEnv: lookup, Environ: environ}); err != nil {
		t.Errorf("known variables refused: %v", err)
	}
}
