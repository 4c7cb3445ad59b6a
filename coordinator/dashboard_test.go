package coordinator_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/testnet"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// learner answers like testnet.BandModel, less sure of itself and wrong on
// a share of the rows that shrinks each round (learn), so that every peer
// has its own loss, accuracy and weight in every round. Learners differ in
// how sure they are too, so that none answers like another (which the
// coordinator would score as a duplicate).
type learner struct {
	base  float64       // the share of rows answered wrong in round 1
	sure  uint32        // how much surer than the others, per mille
	wrong atomic.Uint32 // the share answered wrong now, per mille
	scale atomic.Uint32 // logits are BandModel's times scale/1000
}

func newLearner(base float64, sure uint32) *learner {
	l := &learner{base: base, sure: sure}
	l.learn(1)
	return l
}

// learn sets the learner's answers for round r.
func (l *learner) learn(r int) {
	l.wrong.Store(uint32(1000 * l.base * math.Pow(0.75, float64(r-1))))
	l.scale.Store(uint32(250+30*r) + l.sure)
}

func (*learner) Card() *taonetv1.ModelCard { return testnet.BandModel{}.Card() }

// Forward answers a row wrong (its logits moved one class on) when a hash
// of its last pixels, which are noise in every class, falls under the
// wrong share: the same row gets the same answer all round.
func (l *learner) Forward(x []float32) ([]float32, error) {
	band, err := testnet.BandModel{}.Forward(x)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(band))
	wrong, scale := l.wrong.Load(), float32(l.scale.Load())/1000
	for r := range len(band) / 10 {
		h := math.Float32bits(x[r*784+780])*2654435761 ^ math.Float32bits(x[r*784+783])
		shift := 0
		if h%1000 < wrong {
			shift = 1
		}
		for c := range 10 {
			out[r*10+(c+shift)%10] = band[r*10+c] * scale
		}
	}
	return out, nil
}

func (*learner) Apply(x, grad []float32) error { return nil }

// dashNet is a coordinator that has settled dashRounds rounds with five
// learners: alice, bob and carol in every round, dave in the first four
// (then he leaves), erin in the first two (then she leaves and is
// revoked).
type dashNet struct {
	*opsNet
	base    string
	reports []*coordinator.RoundReport
	ids     map[string]string // name -> identity
}

const dashRounds = 6

func mustDashNetwork(tb testing.TB) *dashNet {
	tb.Helper()
	n := &dashNet{opsNet: mustOpsNetwork(tb), ids: map[string]string{}}
	n.Network.Run(tb)
	n.base = "http://" + n.s.HTTP().Addr().String()
	names := []string{"alice", "bob", "carol", "dave", "erin"}
	learners := map[string]*learner{}
	stops := map[string]func(){}
	for i, name := range names {
		learners[name] = newLearner(0.12+0.08*float64(i), uint32(20*i))
		_, stops[name] = n.PeerServing(tb, tb.TempDir(), name, learners[name])
		n.ids[name] = "spiffe://" + testTD + "/peer/" + name
	}
	for r := 1; r <= dashRounds; r++ {
		for _, l := range learners {
			l.learn(r)
		}
		switch r {
		case 3:
			stops["erin"]()
			if _, err := coordinator.Revoke(tctx(tb), n.home, "erin", "test"); err != nil {
				tb.Fatal(err)
			}
		case 5:
			stops["dave"]()
		}
		n.reports = append(n.reports, n.Round(tb))
	}
	return n
}

// getJSON GETs path of the dashboard and decodes its JSON answer into v.
func (n *dashNet) getJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	code, body := get(tb, n.base+path)
	if code != http.StatusOK {
		tb.Fatalf("GET %s = %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		tb.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// plotted counts, for each identity, the rounds with a loss to plot
// (scored or duplicate answers) and the rounds it was evaluated in.
func (n *dashNet) plotted() (losses, evaluated map[string]int) {
	losses, evaluated = map[string]int{}, map[string]int{}
	for _, rep := range n.reports {
		for _, res := range rep.Results {
			evaluated[res.Identity]++
			if res.Status == ledger.EvalScored || res.Status == ledger.EvalDuplicate {
				losses[res.Identity]++
			}
		}
	}
	return losses, evaluated
}

// TestDashboard runs a real coordinator (TLS, SQLite, its HTTP server)
// through dashRounds settled rounds with five peers, then checks the
// dashboard's HTTP answers, its JSON against the round reports, and, in
// headless Chromium (dashboard_browser_test.go), that the page drew every
// peer's lines and filled its tables.
func TestDashboard(t *testing.T) {
	n := mustDashNetwork(t)
	t.Run("OKPage", func(t *testing.T) {
		for _, c := range []struct{ path, ctype, has string }{
			{"/", "text/html; charset=utf-8", `<script src="/assets/dashboard.js" defer></script>`},
			{"/assets/dashboard.js", "text/javascript; charset=utf-8", "function plot("},
			{"/assets/dashboard.css", "text/css; charset=utf-8", ".plot"},
			{"/assets/favicon.svg", "image/svg+xml", "<svg"},
		} {
			resp := mustDo(t, http.MethodGet, n.base+c.path, "")
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(body), c.has) {
				t.Errorf("GET %s = %d %q, body has %q: %v", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.has, strings.Contains(string(body), c.has))
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("GET %s: Content-Security-Policy %q, want only 'self'", c.path, csp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: no X-Content-Type-Options: nosniff", c.path)
			}
		}
		resp := mustDo(t, http.MethodHead, n.base+"/", "")
		if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD / = %d with %d bytes", resp.StatusCode, len(body))
		}
	})
	t.Run("ErrRefused", func(t *testing.T) {
		for _, c := range []struct {
			method, path, host string
			code               int
			has                string
		}{
			{"GET", "/nope", "", http.StatusNotFound, "404"},
			{"GET", "/assets/nope.js", "", http.StatusNotFound, "404"},
			{"GET", "/api/nope", "", http.StatusNotFound, "404"},
			{"GET", "/index.html", "", http.StatusNotFound, "404"},
			{"POST", "/", "", http.StatusMethodNotAllowed, ""},
			{"DELETE", "/api/rounds", "", http.StatusMethodNotAllowed, ""},
			{"GET", "/api/rounds?last=0", "", http.StatusBadRequest, "from 1 to 500"},
			{"GET", "/api/rounds?last=501", "", http.StatusBadRequest, "from 1 to 500"},
			{"GET", "/api/rounds?last=x", "", http.StatusBadRequest, "from 1 to 500"},
			// A page elsewhere that rebinds its name to 127.0.0.1.
			{"GET", "/api/peers", "attacker.example:80", http.StatusMisdirectedRequest, "not a loopback address"},
		} {
			resp := mustDo(t, c.method, n.base+c.path, c.host)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code || !strings.Contains(string(body), c.has) {
				t.Errorf("%s %s (host %q) = %d %q, want %d with %q", c.method, c.path, c.host, resp.StatusCode, body, c.code, c.has)
			}
		}
	})
	t.Run("OKRounds", func(t *testing.T) {
		var h struct {
			Peers  []struct{ Identity, Name string }
			Rounds []struct {
				Number      uint64
				State       string
				Evaluated   int
				Scored      int
				MintedTAO   string   `json:"minted_tao"`
				EmissionTAO string   `json:"emission_tao"`
				BalancesTAO []string `json:"balances_tao"`
				Evaluations []struct {
					Identity, Status string
					Loss, Accuracy   float64
				}
			}
		}
		n.getJSON(t, "/api/rounds", &h)
		if len(h.Peers) != 5 || len(h.Rounds) != dashRounds {
			t.Fatalf("%d peers and %d rounds, want 5 and %d", len(h.Peers), len(h.Rounds), dashRounds)
		}
		for i, r := range h.Rounds {
			rep := n.reports[i]
			if r.Number != rep.Round || r.State != "settled" || r.Evaluated != len(rep.Results) || r.MintedTAO != ledger.FormatTAO(uint64(i+1)*1e9) {
				t.Errorf("round %+v, want number %d settled, %d evaluated, %d TAO minted", r, rep.Round, len(rep.Results), i+1)
			}
			if len(r.Evaluations) != len(rep.Results) {
				t.Fatalf("round %d: %d evaluations, the report has %d", r.Number, len(r.Evaluations), len(rep.Results))
			}
			results := map[string]coordinator.Result{}
			for _, res := range rep.Results {
				results[res.Identity] = res
			}
			for _, e := range r.Evaluations {
				res, ok := results[e.Identity]
				if !ok || e.Status != string(res.Status) || e.Loss != res.Loss || e.Accuracy != res.Accuracy {
					t.Errorf("round %d: evaluation %+v, the report has %+v", r.Number, e, res)
				}
			}
		}
		var sum uint64
		for _, b := range h.Rounds[dashRounds-1].BalancesTAO {
			rao, err := ledger.ParseTAO(b)
			if err != nil {
				t.Fatal(err)
			}
			sum += rao
		}
		if sum != dashRounds*1e9 {
			t.Errorf("balances after the last round add up to %d rao, want the %d TAO minted", sum, dashRounds)
		}
	})
	t.Run("OKPeers", func(t *testing.T) {
		var d struct {
			Total int
			Peers []struct{ Name, State, Architecture string }
		}
		n.getJSON(t, "/api/peers", &d)
		var got []string
		for _, p := range d.Peers {
			got = append(got, p.Name+" "+p.State+" "+p.Architecture)
		}
		want := "alice joined mlp,bob joined mlp,carol joined mlp,dave left mlp,erin revoked mlp"
		if d.Total != 5 || strings.Join(got, ",") != want {
			t.Errorf("directory = %q (of %d), want %q (of 5)", got, d.Total, want)
		}
	})
	t.Run("OKSummary", func(t *testing.T) {
		var s struct {
			Task  string
			Round struct {
				Number uint64
				State  string
			}
			MintedTAO string `json:"minted_tao"`
			Peers     struct{ Joined, Total int }
		}
		n.getJSON(t, "/api/summary", &s)
		if s.Task != "fmnist" || s.Round.Number != dashRounds || s.Round.State != "settled" || s.MintedTAO != "6" || s.Peers.Joined != 3 || s.Peers.Total != 5 {
			t.Errorf("summary = %+v", s)
		}
	})
	t.Run("OKBrowser", func(t *testing.T) { testDashboardBrowser(t, n) })
}

// mustDo sends a request with no body, with host as the Host header when
// it is not empty.
func mustDo(tb testing.TB, method, url, host string) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	tb.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}
