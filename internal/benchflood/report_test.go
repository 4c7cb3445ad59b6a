package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/coordinator"
)

func TestNewEntry(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := newEntry("peak-rss/x", "MiB", []float64{30, 40, 20}, []float64{10, 10, 10})
		want := entry{Name: "peak-rss/x", Value: 30, Unit: "MiB", Baseline: 10, Ratio: 3, Min: 20, Max: 40, RatioMin: 2, RatioMax: 4}
		if e != want {
			t.Fatalf("newEntry = %+v, want %+v", e, want)
		}
	})
	t.Run("OKZeroBaseline", func(t *testing.T) {
		e := newEntry("accepted/x", "of attempts", []float64{0, 0, 0}, []float64{0, 5, 5})
		if e.Ratio != 0 || e.RatioMin != 0 || e.RatioMax != 0 {
			t.Fatalf("newEntry with a zero baseline = %+v, want ratios 0 (JSON has no NaN)", e)
		}
	})
}

func TestParseListening(t *testing.T) {
	line := "coordinator listening on 127.0.0.1:40123 (trust domain flood.local, CA pin sha256:abc)"
	if got := parseListening(line); got != "127.0.0.1:40123" {
		t.Fatalf("parseListening = %q", got)
	}
	if got := parseListening(`time=... level=INFO msg="coordinator serving" addr=127.0.0.1:1`); got != "" {
		t.Fatalf("parseListening of a log line = %q, want empty", got)
	}
}

func TestParseToken(t *testing.T) {
	out := "token:    taonet_abc-DEF_1\nca-pin:   sha256:0f0f\nidentity: spiffe://flood.local/peer/legit\njoin:     peer join ...\n"
	got, err := parseToken(out)
	if err != nil || got != (joinToken{Token: "taonet_abc-DEF_1", Pin: "sha256:0f0f"}) {
		t.Fatalf("parseToken = %+v, %v", got, err)
	}
	if _, err := parseToken(strings.Replace(out, "ca-pin:", "pin:", 1)); err == nil {
		t.Fatal("parseToken without a ca-pin line succeeded")
	}
}

func TestLoopbackSources(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		got, err := loopbackSources(1, 3)
		if err != nil || !slices.Equal(got, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}) {
			t.Fatalf("loopbackSources(1, 3) = %v, %v", got, err)
		}
	})
	t.Run("OKUpToLegit", func(t *testing.T) {
		got, err := loopbackSources(2, 252)
		if err != nil || got[len(got)-1] != "127.0.0.253" {
			t.Fatalf("loopbackSources(2, 252) ends %v, %v", got[len(got)-1:], err)
		}
	})
	for _, c := range [][2]int{{2, 253}, {0, 3}, {1, 0}} {
		if got, err := loopbackSources(c[0], c[1]); err == nil {
			t.Errorf("loopbackSources(%d, %d) = %v, want an error (the legitimate client has %s)", c[0], c[1], got, legitSource)
		}
	}
}

func TestRotate(t *testing.T) {
	in := []string{"a", "b", "c"}
	for k, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotate(in, k); !slices.Equal(got, want) {
			t.Errorf("rotate(%v, %d) = %v, want %v", in, k, got, want)
		}
	}
	if !slices.Equal(in, []string{"a", "b", "c"}) {
		t.Fatalf("rotate changed its input: %v", in)
	}
}

func TestFormatCounts(t *testing.T) {
	got := formatCounts(map[string]int{"Unauthenticated": 3, "ResourceExhausted": 40, "Canceled": 3})
	if want := "ResourceExhausted 40, Canceled 3, Unauthenticated 3"; got != want {
		t.Fatalf("formatCounts = %q, want %q", got, want)
	}
}

func TestSettingsValidate(t *testing.T) {
	ok := Settings{HealthWatches: 10, StreamConns: 16, ConnSources: 3, EnrollSources: 200, Inflight: 64, Reps: 3,
		Hold: time.Second, SampleEvery: time.Millisecond, ProbeEvery: time.Millisecond, Limits: coordinator.DefaultConfig()}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Settings)
		want string
	}{
		{"ErrNoFlood", func(s *Settings) { s.HealthWatches = 0 }, "flood sizes"},
		{"ErrTwoReps", func(s *Settings) { s.Reps = 2 }, "reps 2"},
		{"ErrStreamConnsOverPerHost", func(s *Settings) { s.StreamConns = 129 }, "stream conns 129"},
		{"ErrNoRoomForInflight", func(s *Settings) { s.StreamConns, s.Inflight = 1, 64 }, "fewer than inflight 64"},
		{"ErrSourcesPastLegit", func(s *Settings) { s.EnrollSources = 253 }, "enroll sources 253"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}
