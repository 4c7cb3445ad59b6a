package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHomeFlag runs subcommands with --home before the subcommand's name,
// after it, and from $TAONET_HOME: each reads the same home.
func TestHomeFlag(t *testing.T) {
	t.Setenv("TAONET_HOME", t.TempDir()) // not a network: a default home would fail
	home := filepath.Join(t.TempDir(), "net")
	if _, err := runCoordinator("--home", home, "init", "--hosts", "localhost"); err != nil {
		t.Fatalf("init with --home first: %v", err)
	}
	if _, err := runCoordinator("token", "create", "--home", home, "--name", "alice"); err != nil {
		t.Fatalf("token create with --home after: %v", err)
	}
	if _, err := runCoordinator("--home", home, "token", "create", "--name", "bob"); err != nil {
		t.Fatalf("token create with --home first: %v", err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"OK/Before", []string{"--home", home, "token", "list"}},
		{"OK/Between", []string{"token", "--home", home, "list"}},
		{"OK/After", []string{"token", "list", "--home", home}},
		{"OK/Equals", []string{"token", "list", "--home=" + home}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCoordinator(tc.args...)
			if err != nil || !strings.Contains(out, "\nalice ") || !strings.Contains(out, "\nbob ") {
				t.Fatalf("%v = %q, %v; want alice and bob listed", tc.args, out, err)
			}
		})
	}
	t.Run("OK/Environment", func(t *testing.T) {
		t.Setenv("TAONET_HOME", home)
		out, err := runCoordinator("token", "list")
		if err != nil || !strings.Contains(out, "\nalice ") {
			t.Fatalf("token list with TAONET_HOME = %q, %v", out, err)
		}
	})
	t.Run("OK/LedgerBefore", func(t *testing.T) {
		if out, err := runCoordinator("--home", home, "ledger", "verify"); err != nil || !strings.Contains(out, "ledger ok") {
			t.Fatalf("--home first, ledger verify = %q, %v", out, err)
		}
	})
	t.Run("ErrDefaultHome", func(t *testing.T) {
		if out, err := runCoordinator("ledger", "verify"); err == nil || !strings.Contains(err.Error(), "no ledger") {
			t.Fatalf("ledger verify in an empty TAONET_HOME = %q, %v; want no ledger", out, err)
		}
	})
}

// TestHomeFlagHelp checks that the help of every subcommand lists --home
// once, as the root's global flag.
func TestHomeFlagHelp(t *testing.T) {
	flagLine := regexp.MustCompile(`(?m)^\s+--home string\s+coordinator home folder \(default "[^"]+"\)$`)
	for _, path := range [][]string{
		{"init"}, {"serve"}, {"token", "create"}, {"token", "list"}, {"token", "cancel"},
		{"client-cert"}, {"revoke"}, {"ledger", "verify"}, {"ledger", "export"},
	} {
		t.Run(strings.Join(path, "_"), func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs(append(path, "--help"))
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if n := len(flagLine.FindAllString(out.String(), -1)); n != 1 {
				t.Fatalf("help of %v lists --home %d times:\n%s", path, n, out.String())
			}
			if n := len(regexp.MustCompile(`(?m)^\s+--home\b`).FindAllString(out.String(), -1)); n != 1 {
				t.Fatalf("help of %v has %d --home flag lines:\n%s", path, n, out.String())
			}
			if _, global, _ := strings.Cut(out.String(), "\nGlobal Flags:\n"); !flagLine.MatchString(global) {
				t.Fatalf("help of %v does not list --home among the global flags:\n%s", path, out.String())
			}
		})
	}
}
