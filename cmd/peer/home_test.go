package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taonet/taonet/peer"
)

// mustEnrolledHome makes a home that holds a certificate file: peer join
// with a token stops on it, naming the home, before any network call.
func mustEnrolledHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "alice")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, peer.CertFile), []byte("not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestHomeFlag runs peer join with --home before the subcommand's name,
// after it, and from $TAONET_HOME: each reaches the same home.
func TestHomeFlag(t *testing.T) {
	home := mustEnrolledHome(t)
	join := []string{"--coordinator", "127.0.0.1:1", "--token", "T", "--ca-pin", "sha256:00"}
	for _, tc := range []struct {
		name string
		env  string
		args []string
	}{
		{"OK/Before", t.TempDir(), append([]string{"--home", home, "join"}, join...)},
		{"OK/After", t.TempDir(), append(append([]string{"join"}, join...), "--home", home)},
		{"OK/Environment", home, append([]string{"join"}, join...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TAONET_HOME", tc.env)
			out, err := runPeer(tc.args...)
			if err == nil || !strings.Contains(err.Error(), peer.ErrHomeEnrolled.Error()) || !strings.Contains(err.Error(), home) {
				t.Fatalf("%v = %v\n%s\nwant %q naming %s", tc.args, err, out, peer.ErrHomeEnrolled, home)
			}
		})
	}
}

// TestHomeFlagHelp checks that the help of join and train lists --home
// once, as the root's global flag.
func TestHomeFlagHelp(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^\s+--home string\s+peer home folder \(default "[^"]+"\)$`)
	for _, sub := range []string{"join", "train"} {
		t.Run(sub, func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs([]string{sub, "--help"})
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if n := len(regexp.MustCompile(`(?m)^\s+--home\b`).FindAllString(out.String(), -1)); n != 1 {
				t.Fatalf("help of %s has %d --home flag lines:\n%s", sub, n, out.String())
			}
			if _, global, _ := strings.Cut(out.String(), "\nGlobal Flags:\n"); !flagLine.MatchString(global) {
				t.Fatalf("help of %s does not list --home among the global flags:\n%s", sub, out.String())
			}
		})
	}
}
