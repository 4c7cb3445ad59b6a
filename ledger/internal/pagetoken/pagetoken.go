// Package pagetoken encodes the opaque page tokens of the ledger's listings.
// A token names the listing it belongs to and the sort key of the last row
// returned, so the next page starts strictly after it (keyset paging: rows
// written between two pages are neither skipped nor repeated).
package pagetoken

import (
	"encoding/base64"
	"errors"
	"strings"
)

// sep separates the fields; identities and numbers never contain it.
const sep = "\x00"

// Encode returns the token for a listing named kind whose last row had the
// given sort key fields.
func Encode(kind string, fields ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + sep + strings.Join(fields, sep)))
}

// Decode returns the n sort key fields of token, which must have been made
// by Encode for the same kind. It returns an error for anything else.
func Decode(token, kind string, n int) ([]string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, errors.New("page token is not one this server issued")
	}
	parts := strings.Split(string(raw), sep)
	if len(parts) != n+1 || parts[0] != kind {
		return nil, errors.New("page token belongs to another listing or filter")
	}
	return parts[1:], nil
}
