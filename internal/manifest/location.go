package manifest

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// atLocation is the SQL condition for rows at the storage location id,
// appending its arguments to args: rows recorded with that identity, and
// rows written before identities whose bucket URL ResolveLegacy found to
// name the same place.
func (s *Store) atLocation(args *[]any, id string) string {
	*args = append(*args, id)
	cond := fmt.Sprintf("(location_canonical AND location = $%d)", len(*args))
	s.mu.RLock()
	legacy := s.legacy[id]
	s.mu.RUnlock()
	if len(legacy) == 0 {
		return cond
	}
	*args = append(*args, legacy)
	return fmt.Sprintf("(%s OR (NOT location_canonical AND location = ANY($%d)))", cond, len(*args))
}

// AtLocation reports whether e was recorded at the storage location id,
// by the same rule as the store's queries.
func (s *Store) AtLocation(e Entry, id string) bool {
	if !e.LegacyLocation {
		return e.Location == id
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, l := range s.legacy[id] {
		if l == e.Location {
			return true
		}
	}
	return false
}

// ResolveLegacy finds the rows written before identities (their location
// is the bucket URL as it was configured) whose URL names the storage
// location id, by identify (backends.Identity, which reads the
// credentials in this process's environment, as the run that wrote them
// did). With rewrite it records id in them for good; without (a dry run,
// a read-only command) the store only matches them from now on. It
// returns how many rows it found.
func (s *Store) ResolveLegacy(ctx context.Context, q Querier, id string, identify func(string) (string, error), rewrite bool) (int64, error) {
	rows, err := q.Query(ctx, `SELECT location, count(*) FROM `+s.table+`
		WHERE NOT location_canonical AND location IS NOT NULL GROUP BY location`)
	if err != nil {
		return 0, fmt.Errorf("look up manifests recorded before location identities: %w", err)
	}
	var same []string
	var n int64
	for rows.Next() {
		var loc string
		var count int64
		if err := rows.Scan(&loc, &count); err != nil {
			rows.Close()
			return 0, fmt.Errorf("look up manifests recorded before location identities: %w", err)
		}
		if got, err := identify(loc); err == nil && got == id {
			same = append(same, loc)
			n += count
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("look up manifests recorded before location identities: %w", err)
	}
	if len(same) == 0 {
		return 0, nil
	}
	if rewrite {
		if _, err := q.Exec(ctx, `UPDATE `+s.table+` SET location = $1, location_canonical = true
			WHERE NOT location_canonical AND location = ANY($2)`, id, same); err != nil {
			return 0, fmt.Errorf("record location identity %s in %d older manifests: %w", id, n, err)
		}
		return n, nil
	}
	s.mu.Lock()
	if s.legacy == nil {
		s.legacy = map[string][]string{}
	}
	s.legacy[id] = same
	s.mu.Unlock()
	return n, nil
}

// LocationCount is how many committed archives one storage location holds.
type LocationCount struct {
	Location string
	Archives int64
}

// CommittedLocations returns the storage locations that hold committed
// archives (archive or adopt rows), most archives first. A location written
// before identities, not yet resolved, appears as its bucket URL.
func (s *Store) CommittedLocations(ctx context.Context, q Querier) ([]LocationCount, error) {
	rows, err := q.Query(ctx, `SELECT location, location_canonical, count(*) FROM `+s.table+`
		WHERE kind IN ('archive', 'adopt') AND status = 'committed' AND location IS NOT NULL
		GROUP BY location, location_canonical`)
	if err != nil {
		return nil, fmt.Errorf("list storage locations: %w", err)
	}
	defer rows.Close()
	byLoc := map[string]int64{}
	for rows.Next() {
		var loc string
		var canonical bool
		var n int64
		if err := rows.Scan(&loc, &canonical, &n); err != nil {
			return nil, fmt.Errorf("list storage locations: %w", err)
		}
		if !canonical {
			// Matched to an identity by ResolveLegacy: count it there.
			s.mu.RLock()
			for id, ls := range s.legacy {
				for _, l := range ls {
					if l == loc {
						loc = id
					}
				}
			}
			s.mu.RUnlock()
		}
		byLoc[loc] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list storage locations: %w", err)
	}
	var out []LocationCount
	for l, n := range byLoc {
		out = append(out, LocationCount{Location: l, Archives: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Archives != out[j].Archives {
			return out[i].Archives > out[j].Archives
		}
		return out[i].Location < out[j].Location
	})
	return out, nil
}

// TableArchives is what committed archives of one source table a
// location holds under a key prefix.
type TableArchives struct {
	Table       string
	Archives    int64
	First, Last time.Time // days
}

// OtherTables returns the source tables, other than those named by names,
// whose committed archives are at location under keyPrefix (the part of
// an archive key before YYYY/MM/archive-YYYY-MM-DD.json.gz), most
// archives first. Archives of two tables at one place share their keys,
// so a run of one would merge into the other's.
func (s *Store) OtherTables(ctx context.Context, q Querier, location, keyPrefix string, names []string) ([]TableArchives, error) {
	args := []any{names, keyPrefix, len(keyPrefix)}
	rows, err := q.Query(ctx, `SELECT source_table, count(*), min(day), max(day) FROM `+s.table+`
		WHERE kind IN ('archive', 'adopt') AND status = 'committed' AND source_table IS NOT NULL AND day IS NOT NULL
		AND NOT (source_table = ANY($1)) AND left(object_key, $3) = $2
		AND length(object_key) = $3 + length('YYYY/MM/archive-YYYY-MM-DD.json.gz')
		AND `+s.atLocation(&args, location)+`
		GROUP BY source_table ORDER BY count(*) DESC, source_table`, args...)
	if err != nil {
		return nil, fmt.Errorf("look up the tables archived at %s: %w", location, err)
	}
	defer rows.Close()
	var out []TableArchives
	for rows.Next() {
		var t TableArchives
		if err := rows.Scan(&t.Table, &t.Archives, &t.First, &t.Last); err != nil {
			return nil, fmt.Errorf("look up the tables archived at %s: %w", location, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up the tables archived at %s: %w", location, err)
	}
	return out, nil
}
