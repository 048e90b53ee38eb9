// Package manifest holds the archive_runs table: the record of every archive
// object written, every raw purge and every restore. It owns the table's
// migrations and is the only code that reads or writes it.
package manifest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Kinds of manifest rows.
const (
	KindArchive = "archive"
	KindPurge   = "purge"
	KindRestore = "restore"
	KindAdopt   = "adopt"
)

// Statuses of manifest rows.
const (
	StatusCommitted = "committed"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// Entry is one row of archive_runs. Zero numbers and empty strings are stored
// as NULL where the column is nullable, except counts that are meaningful at
// zero (set the pointer fields for those).
type Entry struct {
	ID          int64
	RunID       string
	Kind        string
	Status      string
	Day         *time.Time // UTC midnight; nil for a purge
	SourceTable string
	ObjectKey   string
	Location    string // the storage location's identity (backends.Identity)
	// LegacyLocation marks a row written before identities: its Location
	// is the bucket URL as configured then (see ResolveLegacy).
	LegacyLocation bool
	PublicURL      string
	Readings       *int64
	Sensors        *int64
	RowsDeleted    *int64
	RowsInserted   *int64
	RowsPresent    *int64
	Bytes          *int64
	SHA256         string
	MinTime        *time.Time
	MaxTime        *time.Time
	FormatVersion  *int64
	Error          string
	Host           string
	OSUser         string
	StartedAt      time.Time
	FinishedAt     time.Time

	// KeyMode is KeySensorTime or KeyNone: the reading identity an
	// archive was merged by, or a restore resolved conflicts by.
	KeyMode      string
	RowsReplaced *int64
	// Checkout is CheckoutOpen, CheckoutCheckedIn or CheckoutAbandoned on
	// a restore --checkout row, CheckoutCheckin on the archive row of a
	// checkin, whose CheckoutID is the restore row it ended.
	Checkout   string
	CheckoutID *int64
}

// Key modes.
const (
	KeyNone       = "none"
	KeySensorTime = "sensor_time"
)

// Checkout states.
const (
	CheckoutOpen      = "open"
	CheckoutCheckedIn = "checked-in"
	CheckoutAbandoned = "abandoned"
	CheckoutCheckin   = "checkin"
)

// Int64 returns a pointer to n, for the optional count fields.
func Int64(n int64) *int64 { return &n }

// Count reads an optional count field; NULL reads as 0.
func Count(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// ShortSHA is a sha256 as messages and tables show it: its first 12 hex
// digits, "-" when there is none.
func ShortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "-"
	}
	return sha
}

// NewRunID returns a random (version 4) UUID for the run_id column, which
// ties together every row one invocation of the archiver writes.
func NewRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Querier is what the store needs from a pool, a connection or a
// transaction, so that manifest rows can be written in the same transaction
// as the deletes they describe.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes archive_runs in one schema.
type Store struct {
	table string // sanitized, schema-qualified
	host  string
	user  string

	// Scrub, if set, removes secrets from the error text of every row
	// written: an error chain may quote what third-party code saw.
	Scrub func(string) string

	mu     sync.RWMutex
	legacy map[string][]string // identity -> legacy location strings found to name it
}

// NewStore returns a store for archive_runs in schema.
func NewStore(schema string) *Store {
	host, _ := os.Hostname()
	who := ""
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	return &Store{table: pgx.Identifier{schema, "archive_runs"}.Sanitize(), host: host, user: who}
}

const columns = `run_id, kind, status, day, source_table, object_key, location, public_url,
	readings, sensors, rows_deleted, rows_inserted, rows_present, bytes, sha256,
	min_time, max_time, format_version, error, host, os_user, started_at, finished_at,
	key_mode, rows_replaced, checkout, checkout_id, location_canonical`

// complete fills in what a row records whether or not the caller set it:
// the scrubbed error, the finish time (now), the host and the OS user.
func (s *Store) complete(e *Entry) {
	if s.Scrub != nil {
		e.Error = s.Scrub(e.Error)
	}
	if e.FinishedAt.IsZero() {
		e.FinishedAt = time.Now().UTC()
	}
	if e.Host == "" {
		e.Host = s.host
	}
	if e.OSUser == "" {
		e.OSUser = s.user
	}
}

// values are e's values for columns, in that order.
func (e *Entry) values() []any {
	return []any{
		e.RunID, e.Kind, e.Status, dateArg(e.Day), nullString(e.SourceTable), nullString(e.ObjectKey),
		nullString(e.Location), nullString(e.PublicURL), e.Readings, e.Sensors, e.RowsDeleted,
		e.RowsInserted, e.RowsPresent, e.Bytes, nullString(e.SHA256), e.MinTime, e.MaxTime,
		e.FormatVersion, nullString(e.Error), nullString(e.Host), nullString(e.OSUser),
		e.StartedAt, e.FinishedAt,
		nullString(e.KeyMode), e.RowsReplaced, nullString(e.Checkout), e.CheckoutID, !e.LegacyLocation,
	}
}

// Insert records e and sets its ID. FinishedAt defaults to now.
func (s *Store) Insert(ctx context.Context, q Querier, e *Entry) error {
	s.complete(e)
	err := q.QueryRow(ctx, `INSERT INTO `+s.table+` (`+columns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28)
		RETURNING id`,
		e.values()...,
	).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("record %s manifest in %s: %w", e.Kind, s.table, err)
	}
	return nil
}

// Update rewrites the row e.ID with e's values. FinishedAt defaults to now.
// An archive run records a row before it publishes an object (status
// failed, the object's checksum) and writes a failure's reason into it.
func (s *Store) Update(ctx context.Context, q Querier, e *Entry) error {
	s.complete(e)
	tag, err := q.Exec(ctx, `UPDATE `+s.table+` SET (`+columns+`)
		= ($2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29)
		WHERE id = $1`,
		append([]any{e.ID}, e.values()...)...,
	)
	if err != nil {
		return fmt.Errorf("record %s manifest #%d in %s: %w", e.Kind, e.ID, s.table, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("record %s manifest #%d in %s: the row is gone", e.Kind, e.ID, s.table)
	}
	return nil
}

// Delete removes the row id: an archive run's upload-in-progress row once
// the run committed the day under a row of its own.
func (s *Store) Delete(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, `DELETE FROM `+s.table+` WHERE id = $1`, id); err != nil {
		return fmt.Errorf("remove manifest #%d from %s: %w", id, s.table, err)
	}
	return nil
}

// FailedUploads returns the checksums of archive objects that archive runs
// were about to publish at an object key of a storage location but never
// committed (failed rows with a checksum): an object at the key with one of
// them is an uncommitted upload of ours, not an archive.
func (s *Store) FailedUploads(ctx context.Context, q Querier, location, key string) (map[string]bool, error) {
	args := []any{key}
	rows, err := q.Query(ctx, `SELECT DISTINCT sha256 FROM `+s.table+`
		WHERE kind = 'archive' AND status = 'failed' AND object_key = $1 AND `+s.atLocation(&args, location)+` AND sha256 IS NOT NULL`, args...)
	if err != nil {
		return nil, fmt.Errorf("look up failed uploads of %s: %w", key, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var sha string
		if err := rows.Scan(&sha); err != nil {
			return nil, fmt.Errorf("look up failed uploads of %s: %w", key, err)
		}
		out[sha] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up failed uploads of %s: %w", key, err)
	}
	return out, nil
}

// LatestCommitted returns the newest committed archive or adopt row for an
// object key at a storage location, or nil if there is none. It is the
// manifest that the object must still satisfy.
func (s *Store) LatestCommitted(ctx context.Context, q Querier, location, key string) (*Entry, error) {
	args := []any{key}
	return queryFirst(ctx, q, "look up manifest of "+key, `SELECT id, `+columns+` FROM `+s.table+`
		WHERE kind IN ('archive', 'adopt') AND status = 'committed' AND object_key = $1 AND `+s.atLocation(&args, location)+`
		ORDER BY finished_at DESC, id DESC LIMIT 1`, args...)
}

// Filter selects manifest rows for List.
type Filter struct {
	Kinds    []string   // empty: all kinds
	From, To *time.Time // inclusive day bounds; nil: open
	Location string     // empty: any location
	Status   string     // empty: any status
	Limit    int        // 0: no limit
}

// Days returns f limited to the days from through to, each given by its
// first instant (measure.Day.Start); a zero time leaves that side open,
// as Start of a zero Day is.
func (f Filter) Days(from, to time.Time) Filter {
	if !from.IsZero() {
		f.From = &from
	}
	if !to.IsZero() {
		f.To = &to
	}
	return f
}

// List returns manifest rows matching f, oldest day first, then in the order
// they were written.
func (s *Store) List(ctx context.Context, q Querier, f Filter) ([]Entry, error) {
	sql := `SELECT id, ` + columns + ` FROM ` + s.table + ` WHERE true`
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if len(f.Kinds) > 0 {
		sql += ` AND kind = ANY(` + arg(f.Kinds) + `)`
	}
	if f.From != nil {
		sql += ` AND day >= ` + arg(dateArg(f.From))
	}
	if f.To != nil {
		sql += ` AND day <= ` + arg(dateArg(f.To))
	}
	if f.Location != "" {
		sql += ` AND ` + s.atLocation(&args, f.Location)
	}
	if f.Status != "" {
		sql += ` AND status = ` + arg(f.Status)
	}
	sql += ` ORDER BY day NULLS FIRST, finished_at, id`
	if f.Limit > 0 {
		sql += ` LIMIT ` + arg(f.Limit)
	}
	return queryEntries(ctx, q, "list manifests", sql, args...)
}

// queryEntries runs a query of entries (id, then columns); its errors say
// what it was for.
func queryEntries(ctx context.Context, q Querier, what, sql string, args ...any) ([]Entry, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	entries, err := scanEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return entries, nil
}

// queryFirst is queryEntries for the first entry, nil if there is none.
func queryFirst(ctx context.Context, q Querier, what, sql string, args ...any) (*Entry, error) {
	entries, err := queryEntries(ctx, q, what, sql, args...)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	return &entries[0], nil
}

func scanEntries(rows pgx.Rows) ([]Entry, error) {
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var day *time.Time
		var src, key, loc, pub, sha, errText, host, who, keyMode, checkout *string
		var canonical bool
		if err := rows.Scan(&e.ID, &e.RunID, &e.Kind, &e.Status, &day, &src, &key, &loc, &pub,
			&e.Readings, &e.Sensors, &e.RowsDeleted, &e.RowsInserted, &e.RowsPresent, &e.Bytes, &sha,
			&e.MinTime, &e.MaxTime, &e.FormatVersion, &errText, &host, &who, &e.StartedAt, &e.FinishedAt,
			&keyMode, &e.RowsReplaced, &checkout, &e.CheckoutID, &canonical); err != nil {
			return nil, err
		}
		e.LegacyLocation = !canonical
		if day != nil {
			d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
			e.Day = &d
		}
		e.SourceTable, e.ObjectKey, e.Location, e.PublicURL = deref(src), deref(key), deref(loc), deref(pub)
		e.SHA256, e.Error, e.Host, e.OSUser = deref(sha), deref(errText), deref(host), deref(who)
		e.KeyMode, e.Checkout = deref(keyMode), deref(checkout)
		out = append(out, e)
	}
	return out, rows.Err()
}

// dateArg passes a day as text so that PostgreSQL never shifts it by a
// session time zone.
func dateArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.DateOnly)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ErrNotMigrated means archive_runs is missing or older than this binary
// expects; the fix is `archiver migrate up`.
var ErrNotMigrated = errors.New("database is not migrated")

// OpenCheckout returns the restore row that checked out the object key at
// a storage location (restore --checkout) and has not been checked in or
// abandoned since, or nil.
func (s *Store) OpenCheckout(ctx context.Context, q Querier, location, key string) (*Entry, error) {
	return queryFirst(ctx, q, "look up checkout of "+key, `SELECT id, `+columns+` FROM `+s.table+`
		WHERE kind = 'restore' AND status = 'committed' AND checkout = 'open' AND object_key = $1 AND location = $2
		ORDER BY id DESC LIMIT 1`, key, location)
}

// EndCheckout marks the checkout row id checked in or abandoned (state),
// in the transaction that does so.
func (s *Store) EndCheckout(ctx context.Context, q Querier, id int64, state string) error {
	tag, err := q.Exec(ctx, `UPDATE `+s.table+` SET checkout = $2 WHERE id = $1 AND checkout = 'open'`, id, state)
	if err != nil {
		return fmt.Errorf("end checkout #%d in %s: %w", id, s.table, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("end checkout #%d in %s: it is no longer open (checked in or abandoned by another run)", id, s.table)
	}
	return nil
}

// PendingPrefix starts the error of a failed archive row left by a day a
// throttle stopped (a lock timeout, replica lag, the run-time budget): the
// row must stay "failed" (it records the checksum of an upload that was
// never committed, see FailedUploads), but the day is pending, not broken.
const PendingPrefix = "pending: "

// IsPending reports whether e is such a row.
func IsPending(e *Entry) bool {
	return e != nil && e.Status == StatusFailed && strings.HasPrefix(e.Error, PendingPrefix)
}
