package logformat_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/taonet/taonet/internal/logformat"
)

func TestNew(t *testing.T) {
	t.Run("OKText", func(t *testing.T) {
		var buf bytes.Buffer
		log, err := logformat.New(&buf, logformat.Text)
		if err != nil {
			t.Fatal(err)
		}
		log.With("peer", "spiffe://t/peer/alice").Info("round done", "round", 7)
		if line := buf.String(); !strings.Contains(line, "level=INFO msg=\"round done\" peer=spiffe://t/peer/alice round=7") {
			t.Fatalf("text line %q", line)
		}
	})
	t.Run("OKJSON", func(t *testing.T) {
		var buf bytes.Buffer
		log, err := logformat.New(&buf, logformat.JSON)
		if err != nil {
			t.Fatal(err)
		}
		log.With("peer", "spiffe://t/peer/alice").Info("round done", "round", 7)
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatalf("JSON line %q: %v", buf.String(), err)
		}
		if rec["msg"] != "round done" || rec["peer"] != "spiffe://t/peer/alice" || rec["round"] != 7.0 || rec["level"] != "INFO" {
			t.Fatalf("JSON record %v", rec)
		}
	})
	t.Run("ErrFormat", func(t *testing.T) {
		if _, err := logformat.New(&bytes.Buffer{}, "yaml"); err == nil || !strings.Contains(err.Error(), `--log-format "yaml"`) {
			t.Fatalf("format yaml: %v", err)
		}
	})
}
