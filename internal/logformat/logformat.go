// Package logformat builds the log/slog logger of the taonet binaries from
// their --log-format flag: text (key=value, for a terminal) or JSON (one
// object a line, for a log collector).
package logformat

import (
	"fmt"
	"io"
	"log/slog"
)

// The formats --log-format takes.
const (
	Text = "text"
	JSON = "json"
)

// New returns a logger writing to w at level Info in format, or an error
// naming a format that is neither Text nor JSON.
func New(w io.Writer, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch format {
	case Text:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case JSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want %s or %s", format, Text, JSON)
}
