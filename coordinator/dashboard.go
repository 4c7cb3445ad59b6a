package coordinator

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/taonet/taonet/internal/httpops"
)

// The dashboard is a read-only page at "/" of the operations HTTP server
// (Config.HTTP): plots and tables drawn in the browser by a small script,
// from JSON the handlers in dashboard_api.go read out of the ledger. Every
// asset is embedded, so it works with no internet, and the page may load
// nothing from anywhere but its own origin (dashboardCSP).
//
//go:embed web
var webFS embed.FS

// dashboardCSP allows the page its own scripts, styles, images and JSON,
// and nothing else: no inline script or style, no other origin, no frames.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Bounds of the dashboard's requests, so that a large ledger cannot make
// one huge: at most dashboardMaxRounds rounds of dashboardPeers peers,
// the first dashboardMaxListed peers of the directory, and
// dashboardInFlight API requests at a time, each within dashboardTimeout.
const (
	dashboardRounds    = 100
	dashboardMaxRounds = 500
	dashboardPeers     = 24
	dashboardMaxListed = 500
	dashboardInFlight  = 4
	dashboardTimeout   = 10 * time.Second
)

// dashboard serves the page, its assets and its JSON API.
type dashboard struct {
	s      *Server
	public bool // Config.HTTPPublic: any Host header is fine
	assets map[string]asset
	busy   chan struct{} // one token per API request in flight
	logger *slog.Logger
}

// asset is one embedded file, with what ServeContent needs.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// mountDashboard mounts the dashboard on the operations HTTP server h:
// "GET /" (the page, and HEAD), "GET /assets/{name}" and "GET /api/...".
// Any other path is 404 and any other method 405, from the mux.
func (s *Server) mountDashboard(h *httpops.Server) {
	d := &dashboard{s: s, public: s.cfg.HTTPPublic, assets: loadAssets(), busy: make(chan struct{}, dashboardInFlight), logger: s.cfg.Logger}
	h.Handle("GET /{$}", d.guard(d.serveAsset("index.html")))
	h.Handle("GET /assets/{name}", d.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.serveAsset(r.PathValue("name")).ServeHTTP(w, r)
	})))
	h.Handle("GET /api/summary", d.guard(d.api(d.summary)))
	h.Handle("GET /api/rounds", d.guard(d.api(d.rounds)))
	h.Handle("GET /api/peers", d.guard(d.api(d.peers)))
}

// loadAssets reads every file of web/ once. The set is fixed at build
// time, so a failure here is a broken build: it panics.
func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(webFS, "web", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := webFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[path.Base(p)] = asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("dashboard assets: " + err.Error())
	}
	return out
}

// serveAsset serves the embedded file name, 404 when there is none. The
// browser revalidates it on every load (ETag), so a new build shows at
// once.
func (d *dashboard) serveAsset(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := d.assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a.ctype)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}

// guard sets the security headers of every dashboard answer, and refuses
// a Host header that is not a loopback address unless the server is
// public: a web page elsewhere could otherwise rebind its own name to
// 127.0.0.1 and read the dashboard from the operator's browser.
func (d *dashboard) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !d.public && !loopbackHost(r.Host) {
			http.Error(w, "host "+r.Host+" is not a loopback address: open the dashboard at http://127.0.0.1:PORT/ (or serve it with --http-public)", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether the Host header hostport names this
// machine: localhost or a loopback IP.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errBadRequest is an API error the caller can fix; it is shown as is.
type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

// api turns f into a JSON handler: at most dashboardInFlight at a time
// (503 beyond), each within dashboardTimeout. An errBadRequest is 400 with
// its message; any other error is logged and answered 500 without
// details.
func (d *dashboard) api(f func(r *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		select {
		case d.busy <- struct{}{}:
			defer func() { <-d.busy }()
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "busy: too many dashboard requests at once"})
			return
		}
		v, err := f(r)
		var bad errBadRequest
		if errors.As(err, &bad) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": string(bad)})
			return
		}
		if err != nil {
			d.logger.Error("dashboard", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error: see the coordinator's log"})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// writeJSON writes v as the JSON answer with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"internal error: see the coordinator's log"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
