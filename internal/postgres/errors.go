package postgres

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsLockTimeout reports whether err is PostgreSQL's lock_timeout expiring.
func IsLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// IsConnectionLost reports whether err says the connection it was sent on
// is gone: terminated by the server (pg_terminate_backend, a shutdown or a
// restart: SQLSTATE class 57), a connection exception (class 08), or the
// socket closing under it. Such a statement was most likely not committed;
// it may have been, if the connection died after the commit and before
// the answer, so only a statement that is harmless to repeat should be
// sent again on another connection.
func IsConnectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "08")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err)
}
