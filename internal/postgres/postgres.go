// Package postgres holds every SQL statement the archiver runs against the
// measurement tables. Table and column names come from configuration and are
// always quoted identifiers: a name holding a quote or a semicolon is data,
// never SQL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shizuku-labs/archiver/internal/secret"
)

// Querier is what the statements here need: a pool, a connection or a
// transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Option tunes the sessions of a pool opened by Connect.
type Option func(*pgxpool.Config)

// WithLockTimeout makes every session wait at most d for any lock (the
// session's lock_timeout), so that a statement never queues behind an
// application's lock while others queue behind it. It is set with SET
// after connecting rather than as a startup parameter, which PgBouncer
// refuses.
func WithLockTimeout(d time.Duration) Option {
	return func(cfg *pgxpool.Config) {
		if d <= 0 {
			return
		}
		sql := fmt.Sprintf(`SET lock_timeout = %d`, max(1, d.Milliseconds()))
		prev := cfg.AfterConnect
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			if prev != nil {
				if err := prev(ctx, c); err != nil {
					return err
				}
			}
			if _, err := c.Exec(ctx, sql); err != nil {
				return fmt.Errorf("set lock_timeout: %w", err)
			}
			return nil
		}
	}
}

// Connect opens a connection pool and checks that the server answers within
// timeout. Sessions run in UTC so that day boundaries are UTC days whether
// the time columns are timestamptz or timestamp. Errors never contain the
// password.
func Connect(ctx context.Context, databaseURL string, timeout time.Duration, maxConns int, opts ...Option) (*pgxpool.Pool, error) {
	if strings.TrimSpace(databaseURL) == "" {
		return nil, &ConfigError{"no database URL: set DATABASE_URL, --database-url or database.url in the config file"}
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(databaseURL)), "jdbc:") {
		// Without this, pgx reads a JDBC URL as one odd keyword=value pair
		// and connects to the default host with the defaults.
		return nil, &ConfigError{"the database URL (DATABASE_URL) is a Java JDBC URL (jdbc:...); the URL is not shown, as it may hold the password: " +
			"expected postgres://user:password@host:port/database?options (drop the jdbc: prefix; special characters in the password percent-encoded), or key=value pairs"}
	}
	secrets := Secrets(databaseURL)
	if ambiguousPassword(databaseURL) {
		return nil, &ConfigError{"invalid database URL (DATABASE_URL): it has an \"@\" after its host part, so its password (or a value) holds an unescaped \"@\", \"#\", \"/\" or \"?\" and the URL would be read with a wrong host and password; " +
			"the URL is not shown, as it may hold the password: percent-encode those characters in the password (@ %40, # %23, / %2F, ? %3F), or use key=value pairs (password='...')"}
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, &ConfigError{fmt.Sprintf("invalid database URL (DATABASE_URL): %s; the URL is not shown, as it may hold the password: "+
			"expected postgres://user:password@host:port/database?options, with special characters in the password percent-encoded, or key=value pairs",
			parseReason(err))}
	}
	secrets = append(secrets, cfg.ConnConfig.Password)
	cfg.ConnConfig.ConnectTimeout = timeout
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "archiver"
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %s", scrub(err.Error(), secrets))
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, &ConnectError{msg: scrub(err.Error(), secrets), host: scrub(cfg.ConnConfig.Host, secrets), port: cfg.ConnConfig.Port, timeout: timeout}
	}
	return pool, nil
}

// ConfigError is a database setting that cannot work (no URL, or one that
// does not parse); nothing was tried.
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

// parseReason is what pgx says is wrong with a connection string, without
// the string and without the error beneath, which quotes parts of it. pgx
// masks the password of a string it cannot parse only as well as it can
// tell where the password is: a password with unescaped special characters
// ("/", "?", "@", "#") came out of it in pieces.
func parseReason(err error) string {
	const prefix = "cannot parse `"
	s := err.Error()
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) || !strings.HasPrefix(s, prefix) {
		return "it cannot be parsed"
	}
	if inner := pce.Unwrap(); inner != nil {
		s = strings.TrimSuffix(s, " ("+inner.Error()+")")
	}
	i := strings.LastIndex(s, "`: ")
	if i < len(prefix) {
		return "it cannot be parsed"
	}
	return s[i+len("`: "):]
}

// ConnectError is a failure to reach or log in to PostgreSQL.
type ConnectError struct {
	msg     string
	host    string
	port    uint16
	timeout time.Duration
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to PostgreSQL at %s:%d within %s: %s (check DATABASE_URL, that the server is running, and the credentials)",
		e.host, e.port, e.timeout, e.msg)
}

// passwords finds the secrets in a connection string before pgx has parsed
// it, so that even a parse error cannot echo them.
func passwords(databaseURL string) []string {
	var out []string
	if u, err := url.Parse(databaseURL); err == nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
		if p := u.Query().Get("password"); p != "" {
			out = append(out, p)
		}
	}
	if cfg, err := pgconn.ParseConfig(databaseURL); err == nil {
		// pgx's own reading finds a key=value password whole, however it
		// is quoted or spaced; the fields below would find only a piece.
		if cfg.Password != "" {
			out = append(out, cfg.Password)
		}
		return out
	}
	for _, field := range strings.Fields(databaseURL) { // key=value form that does not parse
		if v, ok := strings.CutPrefix(field, "password="); ok {
			out = append(out, strings.Trim(v, "'"))
		}
	}
	return out
}

// ambiguousPassword reports whether a postgres:// URL has an "@" after the
// end of its authority (the first "/", "?" or "#" after "//"): a password
// with an unescaped "@", "#", "/" or "?" parses as a different host and
// password, and the connection error would then quote pieces of it as the
// host. A value in the query holding "@" is refused too; percent-encoding
// it is as valid.
func ambiguousPassword(databaseURL string) bool {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(databaseURL), "://")
	if !ok || (scheme != "postgres" && scheme != "postgresql") {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	return strings.Count(rest, "@") > 1 || (end >= 0 && strings.LastIndex(rest, "@") > end)
}

// secretRegion is everything that could be the password of a URL-form
// connection string however it is punctuated: from the first ":" of the
// user info to the last "@", raw and decoded.
func secretRegion(databaseURL string) []string {
	_, rest, ok := strings.Cut(databaseURL, "://")
	if !ok {
		return nil
	}
	at := strings.LastIndex(rest, "@")
	colon := strings.IndexByte(rest, ':')
	if at < 0 || colon < 0 || colon > at {
		return nil
	}
	region := rest[colon+1 : at]
	out := []string{region}
	if d, err := url.PathUnescape(region); err == nil && d != region {
		out = append(out, d)
	}
	return out
}

func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" && len(s) < secret.MinRun {
			msg = strings.ReplaceAll(msg, s, secret.Mask) // whole: too short for runs
		}
	}
	return secret.Scrub(msg, secrets)
}

// Secrets returns what may be the password in a connection string, for a
// process-wide secret.Set.
func Secrets(databaseURL string) []string {
	return append(passwords(databaseURL), secretRegion(databaseURL)...)
}

// Now returns the database server's clock. Cutoffs are computed from it, so
// a host with a wrong clock cannot archive (and delete) too early.
func Now(ctx context.Context, q Querier) (time.Time, error) {
	var t time.Time
	if err := q.QueryRow(ctx, `SELECT now()`).Scan(&t); err != nil {
		return t, fmt.Errorf("read database clock: %w", err)
	}
	return t.UTC(), nil
}

func ident(parts []string) string { return pgx.Identifier(parts).Sanitize() }

func display(parts []string) string { return strings.Join(parts, ".") }
