package vercelblob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gocloud.dev/gcerrors"
)

// Error codes sent by the Vercel Blob API (the "code" field of its error
// JSON), plus a few the driver produces itself.
const (
	CodeForbidden           = "forbidden"
	CodeNotFound            = "not_found"
	CodeStoreNotFound       = "store_not_found"
	CodeStoreSuspended      = "store_suspended"
	CodeBadRequest          = "bad_request"
	CodePreconditionFailed  = "precondition_failed"
	CodeRateLimited         = "rate_limited"
	CodeServiceUnavailable  = "service_unavailable"
	CodeInternalServerError = "internal_server_error"
	CodeUnknownError        = "unknown_error"
	CodeNotAllowed          = "not_allowed"
	CodeFileTooLarge        = "file_too_large"

	// Codes produced by the driver, never by the service.
	CodeNetwork       = "network_error"     // the request failed below HTTP
	CodeInvalidKey    = "invalid_key"       // the key cannot be a pathname
	CodeUnimplemented = "unimplemented"     // not offered by Vercel Blob
	CodeBadResponse   = "invalid_response"  // a 2xx whose body is not the JSON we need
	CodeConfig        = "invalid_config"    // bad Options or environment
	CodeIncomplete    = "incomplete_upload" // object written, sidecar attributes not
	// CodeAccessMismatch: the access given (?access=) is not the store's.
	CodeAccessMismatch = "access_mismatch"
)

// Error is the error type returned by the driver's methods for failures of
// the Vercel Blob API, of content downloads and of local validation. Reach it
// with errors.As or blob.Bucket.ErrorAs. Its text never contains the token.
type Error struct {
	Op         string        // driver operation, e.g. "put", "head", "download"
	Pathname   string        // pathname involved, if any
	Status     int           // HTTP status; 0 if no response was received
	Code       string        // service error code (see the Code constants)
	Message    string        // service message, redacted
	RetryAfter time.Duration // from a rate_limited answer's retry-after
	RequestID  string        // x-api-blob-request-id, the same for every attempt
	Attempts   int           // number of attempts made
	Err        error         // underlying error (network, context, JSON)

	// resp is the last HTTP response, body closed and request detached so
	// that the Authorization header cannot leak through it.
	resp *http.Response
	// uncertainBefore is set when an earlier attempt of the same call may
	// have taken effect although it failed.
	uncertainBefore bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vercelblob")
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	if e.Pathname != "" {
		fmt.Fprintf(&b, " %q", e.Pathname)
	}
	b.WriteString(": ")
	if e.Code != "" {
		b.WriteString(e.Code)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ConfigError reports whether the error is about the settings alone (the
// token, the URLs, the bucket URL's parameters), not about the store: what
// an application reports as a usage error.
func (e *Error) ConfigError() bool { return e.Code == CodeConfig }

// Response returns the HTTP response that carried the error, if any, with
// its body closed and its request removed.
func (e *Error) Response() *http.Response { return e.resp }

// alreadyExists reports the service's answer to a write without overwrite
// over an existing pathname. The SDK passes bad_request messages through,
// and this is the only way to tell this case from other bad requests.
func (e *Error) alreadyExists() bool {
	return e.Code == CodeBadRequest && strings.Contains(strings.ToLower(e.Message), "already exists")
}

// errorCode maps an error from a driver method to a gocloud error code.
func errorCode(err error) gcerrors.ErrorCode {
	if errors.Is(err, context.Canceled) {
		return gcerrors.Canceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return gcerrors.DeadlineExceeded
	}
	var e *Error
	if !errors.As(err, &e) {
		return gcerrors.Unknown
	}
	switch e.Code {
	case CodeNotFound:
		return gcerrors.NotFound
	case CodeStoreNotFound:
		// Like a missing S3 bucket: blob.Bucket.IsAccessible then reports
		// false instead of failing, which is what a deleted store or a token
		// for another store should look like to callers.
		return gcerrors.NotFound
	case CodeForbidden, CodeStoreSuspended, CodeNotAllowed:
		return gcerrors.PermissionDenied
	case CodePreconditionFailed, CodeAccessMismatch:
		return gcerrors.FailedPrecondition
	case CodeBadRequest:
		if e.alreadyExists() {
			return gcerrors.FailedPrecondition
		}
		return gcerrors.InvalidArgument
	case CodeFileTooLarge, CodeInvalidKey, CodeConfig:
		return gcerrors.InvalidArgument
	case CodeRateLimited:
		return gcerrors.ResourceExhausted
	case CodeInternalServerError:
		return gcerrors.Internal
	case CodeUnimplemented:
		return gcerrors.Unimplemented
	case CodeServiceUnavailable, CodeUnknownError, CodeNetwork, CodeBadResponse, CodeIncomplete:
		return gcerrors.Unknown
	}
	switch {
	case e.Status == http.StatusNotFound:
		return gcerrors.NotFound
	case e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized:
		return gcerrors.PermissionDenied
	case e.Status == http.StatusPreconditionFailed:
		return gcerrors.FailedPrecondition
	case e.Status == http.StatusTooManyRequests:
		return gcerrors.ResourceExhausted
	case e.Status == http.StatusRequestedRangeNotSatisfiable, e.Status == http.StatusBadRequest:
		return gcerrors.InvalidArgument
	}
	return gcerrors.Unknown
}

// retryableCode reports codes the service uses for transient failures. The
// SDK retries the last three; we also retry rate_limited, after waiting as
// long as retry-after asks.
func retryableCode(code string) bool {
	switch code {
	case CodeServiceUnavailable, CodeInternalServerError, CodeUnknownError, CodeRateLimited:
		return true
	}
	return false
}

// permanentCode reports codes that describe the request, not the moment, so
// that a retry cannot help even if the HTTP status is 5xx.
func permanentCode(code string) bool {
	switch code {
	case CodeForbidden, CodeNotFound, CodeStoreNotFound, CodeStoreSuspended, CodeBadRequest,
		CodePreconditionFailed, CodeNotAllowed, CodeFileTooLarge:
		return true
	}
	return false
}
