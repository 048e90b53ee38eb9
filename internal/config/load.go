package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Sources are the layers above the defaults, lowest first.
type Sources struct {
	// File is a YAML file; empty means none.
	File string
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Environ lists the environment (KEY=value), to find ARCHIVER_
	// variables no setting reads. nil means os.Environ when LookupEnv is
	// nil too; a LookupEnv alone (a test's map) is not listed.
	Environ func() []string
	// Flags holds the flags given on the command line, by flag name, as
	// text. Only flags the user actually set belong here: a flag's default
	// must not hide a value from the file or the environment.
	Flags map[string]string
}

// Load builds the configuration: defaults < YAML file < environment < flags,
// then validates it.
func Load(src Sources) (Config, error) {
	c := Default()
	if src.File != "" {
		if err := LoadFile(&c, src.File); err != nil {
			return c, err
		}
	}
	lookup := src.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	environ := src.Environ
	if environ == nil && src.LookupEnv == nil {
		environ = os.Environ
	}
	var errs []error
	if environ != nil {
		errs = append(errs, unknownEnv(environ())...)
	}
	for _, s := range Settings() {
		for _, name := range s.Env {
			v, ok := lookup(name)
			if !ok {
				continue
			}
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid setting %s from environment variable %s: %w", s.Key, name, err))
			}
			break // the first variable present wins
		}
		if v, ok := src.Flags[s.Flag]; ok && s.Flag != "" {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid setting %s from flag --%s: %w", s.Key, s.Flag, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// EnvPrefix starts the name of every variable of the archiver's own.
const EnvPrefix = "ARCHIVER_"

// otherEnv are the ARCHIVER_ variables that are not settings: the two
// files read before the configuration, main's profiles, failpoints, and
// the test suite's (ARCHIVER_TEST_* too), which reach the binaries that
// tests start.
var otherEnv = []string{
	"ARCHIVER_CONFIG", "ARCHIVER_ENV_FILE", "ARCHIVER_FAILPOINTS",
	"ARCHIVER_CPUPROFILE", "ARCHIVER_MEMPROFILE", "ARCHIVER_MEMPROFILERATE",
	"ARCHIVER_AZURITE_BLOB", "ARCHIVER_DUCKDB_DIR",
}

// unknownEnv finds ARCHIVER_ variables that no setting reads. A misspelt
// name is otherwise silently ignored and its setting keeps its default:
// ARCHIVER_CLEAN_RETENTON_DAYS=365 would archive and delete everything
// older than 30 days. YAML keys are strict for the same reason.
func unknownEnv(environ []string) []error {
	var known []string
	for _, s := range Settings() {
		known = append(known, s.Env...)
	}
	known = append(known, otherEnv...)
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, EnvPrefix+"TEST_") || slices.Contains(known, name) {
			continue
		}
		hint := ""
		if near := Nearest(name, known); near != "" {
			hint = " (did you mean " + near + "?)"
		}
		errs = append(errs, fmt.Errorf("unknown environment variable %s%s: no setting reads it, so it would be silently ignored; correct or unset it (in the environment or the --env-file); `archiver <command> --help` lists every setting's variable", name, hint))
	}
	return errs
}

// Nearest is the known name closest to name by edit distance, if it is
// close enough to be a typo of it.
func Nearest(name string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
