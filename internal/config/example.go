package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Example renders config.example.yaml from the settings table: every
// setting with its default, its environment variables and its flag. The
// file in the repository is checked against this in a test, so the
// documentation cannot drift from what the loader understands.
func Example() string {
	var b strings.Builder
	b.WriteString(`# archiver configuration (pass with --config or ARCHIVER_CONFIG).
#
# Every setting can also be given as an environment variable or a flag.
# Precedence: defaults < this file < environment < flags. Unknown keys are
# errors. The values below are the defaults.
#
# Credentials are better kept out of this file: DATABASE_URL and the storage
# credentials (VERCEL_BLOB_RW_TOKEN, AWS_*, ...) are read from the
# environment, and a .env file in the working directory is loaded too.
`)
	var prev []string
	for _, s := range Settings() {
		path := strings.Split(s.Key, ".")
		common := 0
		for common < len(prev)-1 && common < len(path)-1 && prev[common] == path[common] {
			common++
		}
		for i := common; i < len(path)-1; i++ {
			if i == 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%s%s:\n", indent(i), path[i])
		}
		depth := len(path) - 1
		if depth == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s# %s\n", indent(depth), s.Usage)
		fmt.Fprintf(&b, "%s# env: %s, flag: --%s\n", indent(depth), strings.Join(s.Env, " or "), s.Flag)
		fmt.Fprintf(&b, "%s%s: %s\n", indent(depth), path[len(path)-1], yamlScalar(s))
		prev = path
	}
	return b.String()
}

func indent(n int) string { return strings.Repeat("  ", n) }

func yamlScalar(s Setting) string {
	if s.kind == kindString || s.kind == kindDuration {
		return strconv.Quote(s.Default)
	}
	return s.Default
}
