package httpops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultShutdownGrace is how long Serve lets requests in flight finish
// once its context ends, before it closes their connections.
const DefaultShutdownGrace = 5 * time.Second

// ErrNotLoopback refuses an address outside loopback without Config.Public.
var ErrNotLoopback = errors.New("not a loopback address")

// Config configures a Server.
type Config struct {
	// Addr is the HOST:PORT to listen on; port 0 picks a free one. The
	// host must be a loopback address unless Public is set (see CheckAddr).
	Addr string
	// Public allows a host outside loopback, or an empty host (every
	// interface).
	Public bool
	// Gatherer is the process's metrics registry, served on /metrics.
	Gatherer prometheus.Gatherer
	// Ready says whether the process is ready: nil when it is, else why
	// not. /readyz answers 200 or 503 with the reason. A nil Ready is
	// always ready.
	Ready func() error
	// Logger receives the server's own errors.
	Logger *slog.Logger
	// ShutdownGrace bounds the graceful shutdown; DefaultShutdownGrace
	// when 0.
	ShutdownGrace time.Duration
}

// CheckAddr refuses addr when it is not HOST:PORT, or when its host is not
// a loopback address (127.0.0.0/8, ::1 or localhost) and public is false.
// An empty host means every interface, so it is refused too. The error
// wraps ErrNotLoopback and says how to get what was meant.
func CheckAddr(addr string, public bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("http address %q is not HOST:PORT (e.g. 127.0.0.1:9090)", addr)
	}
	if public || isLoopback(host) {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "empty (every interface)"
	}
	return fmt.Errorf("http address %s: host %s is %w, and /metrics names every peer with its scores and balances; "+
		"listen on 127.0.0.1:%s, or pass --http-public to serve on other interfaces (behind a firewall or proxy)", addr, shown, ErrNotLoopback, port)
}

// isLoopback reports a host that only this machine can reach.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // an IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is a listening operations HTTP server. Make one with Listen,
// mount more handlers with Handle, then call Serve.
type Server struct {
	cfg Config
	mux *http.ServeMux
	srv *http.Server
	lis net.Listener
}

// Listen checks cfg.Addr (see CheckAddr), listens on it and registers
// /metrics, /healthz and /readyz. Nothing is served until Serve.
func Listen(cfg Config) (*Server, error) {
	if err := CheckAddr(cfg.Addr, cfg.Public); err != nil {
		return nil, err
	}
	if cfg.Gatherer == nil || cfg.Logger == nil {
		return nil, errors.New("http server: gatherer and logger must be set")
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), lis: lis}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { plain(w, http.StatusOK, "ok") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{
		Handler: s.mux,
		// Slow clients cannot hold connections open; handlers that stream
		// (a dashboard's event stream) bound their own writes.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// readyz answers 200 while cfg.Ready says ready, else 503 with the reason.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			plain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	plain(w, http.StatusOK, "ready")
}

// plain writes a one-line text answer.
func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

// Handle mounts h at pattern (net/http.ServeMux patterns, e.g. "/" or
// "GET /api/rounds"). It may be called before or while the server runs; it
// panics, as ServeMux does, on a pattern that conflicts with one already
// mounted.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleFunc mounts f at pattern, as Handle.
func (s *Server) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, f)
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Serve serves until ctx ends, then shuts down gracefully: requests in
// flight get ShutdownGrace to finish before their connections are closed.
// It returns nil after a shutdown, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.lis) }()
	select {
	case err := <-served:
		return fmt.Errorf("http serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		_ = s.srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http serve: %w", err)
	}
	return nil
}

// Close closes the listener of a Server that will not Serve.
func (s *Server) Close() error { return s.lis.Close() }
