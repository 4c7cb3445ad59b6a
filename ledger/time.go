package ledger

import (
	"database/sql"
	"time"
)

// Every time column of the database is Unix milliseconds, UTC; these three
// helpers are the one place that says so.

// dbMillis converts t to the database's time format.
func dbMillis(t time.Time) int64 { return t.UnixMilli() }

// dbTime reads dbMillis back; 0 stays the zero time.
func dbTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// dbNullTime reads a nullable time column; NULL is the zero time.
func dbNullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return dbTime(v.Int64)
}
