package config

import (
	"fmt"
	"strings"
)

// ParseTable splits a configured table name into its parts: "table",
// "schema.table", or with double quotes for names that contain dots or
// quotes ("my.schema"."odd""name"). The parts are identifiers and are always
// quoted in SQL, so a name holding a semicolon or SQL text is only ever a
// (probably missing) table, never code.
func ParseTable(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty table name: expected [schema.]table")
	}
	var parts []string
	var cur strings.Builder
	inQuotes := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQuotes && ch == '"' && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"' && (inQuotes || cur.Len() == 0):
			inQuotes = !inQuotes
		case ch == '.' && !inQuotes:
			if cur.Len() == 0 {
				return nil, fmt.Errorf("table name %q has an empty part: expected [schema.]table", s)
			}
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	if inQuotes {
		return nil, fmt.Errorf("table name %q has an unterminated double quote", s)
	}
	if cur.Len() == 0 {
		// Quoted or not: PostgreSQL has no zero-length identifiers.
		return nil, fmt.Errorf("table name %q has an empty part: expected [schema.]table", s)
	}
	parts = append(parts, cur.String())
	if len(parts) > 2 {
		return nil, fmt.Errorf("table name %q has %d parts: expected [schema.]table (quote names that contain dots)", s, len(parts))
	}
	return parts, nil
}
