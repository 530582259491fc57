package hookvault

import (
	"errors"
	"fmt"
)

// Error codes: the HTTP edge maps each to one status in one table.
const (
	EINTERNAL     = "internal"     // a bug; never shown in detail to a caller
	EBADREQUEST   = "bad_request"  // the request cannot be read, or a parameter is wrong
	EINVALID      = "invalid"      // the body is not JSON or breaks the schema
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	EUNAVAILABLE  = "unavailable"  // the store cannot serve now; a retry may succeed
	ETOOLARGE     = "too_large"    // the body is over the limit
	EUNSUPPORTED  = "unsupported"  // the content type is not JSON
	EUNAUTHORIZED = "unauthorized" // a missing or wrong signature or token
	ETIMEOUT      = "timeout"      // the client did not send its request in time
)

// Error is an error with a code and a message that is safe to show to the caller.
type Error struct {
	Code    string
	Message string
	// Err is the cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted caller-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a store failure as EUNAVAILABLE, keeping the cause for the log.
func Unavailable(err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: "the message store is unavailable; retry later", Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-facing message of the first *Error in err's chain, or a
// generic text: driver and library messages never reach a caller.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
