package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustRead(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestParseStatus(t *testing.T) {
	real := mustRead(t, "status.txt")
	tests := []struct {
		name    string
		text    string
		want    procStatus
		wantErr error // nil: any error is wrong; errAny: some error
	}{
		{name: "OK", text: real, want: procStatus{RSS: 22548 << 10, HWM: 47212 << 10, Threads: 9}},
		{name: "ErrNoRSS", text: strings.Replace(real, "VmRSS:", "VmRSX:", 1), wantErr: errNoField},
		{name: "ErrNoThreads", text: strings.Replace(real, "Threads:\t9\n", "", 1), wantErr: errNoField},
		{name: "ErrKernelThread", text: "Name:\tkthreadd\nState:\tS (sleeping)\nThreads:\t1\n", wantErr: errNoField},
		{name: "ErrNotKB", text: strings.Replace(real, "22548 kB", "22548 MB", 1), wantErr: errAny},
		{name: "ErrNotNumber", text: strings.Replace(real, "47212 kB", "4x212 kB", 1), wantErr: errAny},
		{name: "ErrNoValue", text: strings.Replace(real, "VmHWM:\t   47212 kB", "VmHWM:", 1), wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus(strings.NewReader(tt.text))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("parseStatus: %v", err)
			case tt.wantErr == nil && got != tt.want:
				t.Fatalf("parseStatus = %+v, want %+v", got, tt.want)
			case tt.wantErr == errAny && err == nil:
				t.Fatalf("parseStatus = %+v, want an error", got)
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("parseStatus error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// errAny stands for "some error" in the tables.
var errAny = errors.New("any error")

// TestReadStatusSelf reads this process, whose RSS is at least the 8 MiB
// it has just touched.
func TestReadStatusSelf(t *testing.T) {
	ballast := make([]byte, 8<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	st, err := readStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS < uint64(len(ballast)) || st.HWM < st.RSS || st.Threads < 1 {
		t.Fatalf("status of this process %+v: want RSS >= 8 MiB, HWM >= RSS, threads >= 1", st)
	}
	_ = ballast[len(ballast)-1]
}

func TestCountFDs(t *testing.T) {
	before, err := countFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for range 3 {
		f, err := os.Open(filepath.Join("testdata", "status.txt"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	during, err := countFDs(os.Getpid())
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if during-before != 3 {
		t.Fatalf("count went from %d to %d with 3 files opened, want +3", before, during)
	}
	if _, err := countFDs(-1); err == nil {
		t.Fatal("countFDs(-1) succeeded, want an error")
	}
}

func TestParseMaxOpenFiles(t *testing.T) {
	real := mustRead(t, "limits.txt")
	t.Run("OK", func(t *testing.T) {
		if n, err := parseMaxOpenFiles(strings.NewReader(real)); err != nil || n != 20000 {
			t.Fatalf("parseMaxOpenFiles = %d, %v; want 20000", n, err)
		}
	})
	t.Run("OKUnlimited", func(t *testing.T) {
		text := strings.Replace(real, "Max open files            20000 ", "Max open files            unlimited ", 1)
		if n, err := parseMaxOpenFiles(strings.NewReader(text)); err != nil || n != -1 {
			t.Fatalf("parseMaxOpenFiles = %d, %v; want -1", n, err)
		}
	})
	t.Run("ErrMissing", func(t *testing.T) {
		text := strings.Replace(real, "Max open files", "Max open filez", 1)
		if _, err := parseMaxOpenFiles(strings.NewReader(text)); !errors.Is(err, errNoField) {
			t.Fatalf("parseMaxOpenFiles error %v, want errNoField", err)
		}
	})
}

func TestSamplerKeepsPeak(t *testing.T) {
	s := startSampler(t.Context(), os.Getpid(), 1e6)
	ballast := make([]byte, 32<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	p, err := s.stop()
	if err != nil {
		t.Fatal(err)
	}
	if p.Samples < 2 || p.RSS < uint64(len(ballast)) || p.FDs < 1 {
		t.Fatalf("peak %+v: want at least 2 samples, RSS >= 32 MiB and a descriptor", p)
	}
	_ = ballast[len(ballast)-1]
}
