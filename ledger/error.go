package ledger

import (
	"errors"
	"fmt"
)

// ErrorCode classifies a domain error of the ledger. The services map each
// code to one gRPC status code.
type ErrorCode string

// The ledger's error codes.
const (
	// ENOTFOUND: a round, account or identity that does not exist.
	ENOTFOUND ErrorCode = "not_found"
	// EINVALID: a request that can never succeed as written.
	EINVALID ErrorCode = "invalid"
	// ECONFLICT: a request that clashes with what the ledger already holds.
	ECONFLICT ErrorCode = "conflict"
)

// Error is a domain error: a code for machines and a one-line message that
// is safe to show to a client.
type Error struct {
	Code ErrorCode
	Msg  string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrNotFound) (and the other sentinels) true for
// every *Error with that code, so a table of sentinels can classify them.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is, one per code.
var (
	ErrNotFound = &Error{Code: ENOTFOUND}
	ErrInvalid  = &Error{Code: EINVALID}
	ErrConflict = &Error{Code: ECONFLICT}
)

// ErrorCodeOf returns the code of the first *Error in err's chain, or ""
// for an internal error.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func ledgerErrorf(code ErrorCode, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}
