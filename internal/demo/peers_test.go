package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePeer(t *testing.T) {
	tests := []struct {
		name, line string
		want       peerSpec
		err        string
	}{
		{name: "OK", line: "alice mlp 0/6 0.1 7 /tmp/d/alice",
			want: peerSpec{Name: "alice", Model: "mlp", Shard: "0/6", Alpha: 0.1, Seed: 7, Home: "/tmp/d/alice"}},
		{name: "ErrFields", line: "alice mlp 0/6 0.1 7", err: "5 fields, want 6"},
		{name: "ErrAlpha", line: "alice mlp 0/6 x 7 /h", err: `alpha "x"`},
		{name: "ErrSeed", line: "alice mlp 0/6 0.1 -1 /h", err: `seed "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePeer(tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parsePeer(%q) = %v, want an error with %q", tt.line, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parsePeer(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestReadPeers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("OK", func(t *testing.T) {
		p := write("ok.txt", "# name model shard alpha seed home\nalice mlp 0/2 0.1 7 /a\n\nbob cnn 1/2 0.1 7 /b\n")
		got, err := readPeers(p)
		if err != nil || len(got) != 2 || got[1].Name != "bob" || got[1].Model != "cnn" {
			t.Fatalf("readPeers = %+v, %v", got, err)
		}
	})
	t.Run("ErrEmpty", func(t *testing.T) {
		if _, err := readPeers(write("empty.txt", "# nothing\n")); err == nil || !strings.Contains(err.Error(), "names no peer") {
			t.Fatalf("readPeers = %v, want names no peer", err)
		}
	})
	t.Run("ErrLine", func(t *testing.T) {
		if _, err := readPeers(write("bad.txt", "alice mlp 0/2 0.1 7 /a\nbob\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("readPeers = %v, want an error naming line 2", err)
		}
	})
	t.Run("ErrMissing", func(t *testing.T) {
		if _, err := readPeers(filepath.Join(dir, "none.txt")); err == nil {
			t.Fatal("readPeers of a missing file: no error")
		}
	})
}
