// Package listener is mlab's webhook receiver: an http.Handler that serves on
// any net.Listener (a loopback socket, or an ngrok endpoint) and turns POSTs to
// secret per-job paths into [Delivery] values.
//
// ModelsLab signs nothing, so the path token is both the authentication and
// the correlation key: a token is registered per job, everything else answers
// 404. Bodies are capped (413), must be JSON (400), and are answered 200 at
// once; the handling happens elsewhere, on the channel returned by
// [Server.Register]. The package knows nothing about jobs.
package listener

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mlabcli/mlab/internal/ids"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxBody is the largest webhook body accepted (10 MiB).
const DefaultMaxBody = 10 << 20

// DefaultBuffer is how many deliveries a registered token queues before new
// ones are refused with 503 (and counted): a delivery answered 200 is never
// dropped, and a refused sender may retry.
const DefaultBuffer = 16

// Delivery is one accepted webhook POST.
type Delivery struct {
	Token      string      // the path token the delivery was addressed to
	ReceivedAt time.Time   // when the body was fully read
	Method     string      // always POST today
	Path       string      // the request path as received
	Header     http.Header // request headers
	Body       []byte      // the raw JSON body
	RemoteAddr string      // peer address (the tunnel's, behind ngrok)
}

// Rejection describes a request that was answered with an error status.
type Rejection struct {
	ReceivedAt time.Time
	Method     string
	Path       string
	Status     int    // 404, 405, 400 or 413
	Reason     string // human-readable cause
	RemoteAddr string
}

// Options configures a [Server].
type Options struct {
	// MaxBody caps a delivery's body; larger ones get 413. Default DefaultMaxBody.
	MaxBody int64
	// Buffer is the per-token queue length. Default DefaultBuffer.
	Buffer int
	// OnReject, if set, is called (synchronously, so keep it quick) for every
	// rejected request.
	OnReject func(Rejection)
	// MaxConns caps the connections served at once; at the cap a new
	// connection evicts the longest-idle one that has no request in flight
	// (or is closed itself when every connection is busy), so idle sockets
	// can neither exhaust the process's descriptors nor starve a delivery.
	// Default DefaultMaxConns().
	MaxConns int
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Fallback, if set, takes a POST to a token that is not registered
	// here, after the usual size and JSON checks (a relay: relay.Accept).
	// It answers with status (200 stored, 404 unknown, 503 failed); err is
	// only for reporting. Without it such a POST is a 404.
	Fallback func(ctx context.Context, token string, body []byte, at time.Time) (status int, err error)
}

type route struct {
	ch chan Delivery
}

// Server routes webhook deliveries by path token. The zero value is not
// usable; call [New].
type Server struct {
	opts Options

	mu     sync.RWMutex
	routes map[string]*route

	accepted, rejected, dropped atomic.Uint64

	conns *connLimiter

	srvMu  sync.Mutex
	srv    *http.Server
	closed bool
}

// New returns a Server with no tokens registered.
func New(opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns()
	}
	return &Server{opts: opts, routes: make(map[string]*route), conns: newConnLimiter(opts.MaxConns)}
}

// NewToken returns a fresh 128-bit random path token (32 hex characters):
// ids.Token, mlab's one token maker.
func NewToken() (string, error) { return ids.Token(), nil }

// Register starts accepting deliveries for token and returns the channel they
// arrive on, plus a function that unregisters the token and closes the
// channel. Registering a token twice is an error.
func (s *Server) Register(token string) (<-chan Delivery, func(), error) {
	if token == "" || strings.Contains(token, "/") {
		return nil, nil, fmt.Errorf("register webhook token %q: must be non-empty and contain no '/'", token)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.routes[token]; ok {
		return nil, nil, fmt.Errorf("register webhook token: already registered")
	}
	r := &route{ch: make(chan Delivery, s.opts.Buffer)}
	s.routes[token] = r
	var once sync.Once
	unregister := func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.routes, token)
			s.mu.Unlock()
			// Handlers send under the read lock, so once the route is gone
			// nobody can send on the channel any more.
			close(r.ch)
		})
	}
	return r.ch, unregister, nil
}

// Stats reports how many deliveries were accepted, rejected and dropped
// (refused with 503 because the token's queue was full; never answered 200).
func (s *Server) Stats() (accepted, rejected, dropped uint64) {
	return s.accepted.Load(), s.rejected.Load(), s.dropped.Load()
}

// TokenOf is the token a webhook request is addressed to: the last
// segment of its path (users behind their own proxy may mount mlab under a
// prefix: https://example.com/hooks/<token>).
func TokenOf(path string) string {
	path = strings.TrimSuffix(path, "/")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func (s *Server) lookup(token string) bool {
	s.mu.RLock()
	_, ok := s.routes[token]
	s.mu.RUnlock()
	return ok
}

// WriteError answers a request status with mlab's JSON error body.
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"status\":\"error\",\"message\":%q}\n", msg)
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, reason string) {
	s.rejected.Add(1)
	WriteError(w, status, reason)
	if s.opts.OnReject != nil {
		s.opts.OnReject(Rejection{
			ReceivedAt: s.opts.Now(),
			Method:     r.Method,
			Path:       r.URL.Path,
			Status:     status,
			Reason:     reason,
			RemoteAddr: r.RemoteAddr,
		})
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := TokenOf(r.URL.Path)
	local := token != "" && s.lookup(token)
	fallback := !local && token != "" && s.opts.Fallback != nil && r.Method == http.MethodPost
	if !local && !fallback {
		s.reject(w, r, http.StatusNotFound, "not found")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// Readiness probe (a tunnel's edge 404s until it routes) and a
		// friendly answer for a person who opens the URL in a browser.
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{\"status\":\"listening\"}\n")
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.reject(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, status, reason := ReadBody(w, r, s.opts.MaxBody)
	if body == nil {
		s.reject(w, r, status, reason)
		return
	}
	if fallback {
		s.fallback(w, r, token, body)
		return
	}
	d := Delivery{
		Token:      token,
		ReceivedAt: s.opts.Now(),
		Method:     r.Method,
		Path:       r.URL.Path,
		Header:     r.Header.Clone(),
		Body:       body,
		RemoteAddr: r.RemoteAddr,
	}
	queued, known := false, false
	s.mu.RLock()
	if rt, ok := s.routes[token]; ok {
		known = true
		select {
		case rt.ch <- d:
			queued = true
		default:
		}
	}
	s.mu.RUnlock()
	switch {
	case !known: // unregistered while the body was read
		s.reject(w, r, http.StatusNotFound, "not found")
		return
	case !queued:
		s.dropped.Add(1)
		w.Header().Set("Retry-After", "1")
		s.reject(w, r, http.StatusServiceUnavailable, "busy: try again")
		return
	}
	s.accepted.Add(1)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{\"status\":\"ok\"}\n")
}

// fallback hands a delivery for a token not registered here to
// Options.Fallback and answers as it says.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request, token string, body []byte) {
	status, _ := s.opts.Fallback(r.Context(), token, body, s.opts.Now())
	switch status {
	case http.StatusOK:
		s.accepted.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{\"status\":\"ok\"}\n")
	case http.StatusNotFound:
		s.reject(w, r, http.StatusNotFound, "not found")
	default:
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		if status < 400 {
			status = http.StatusServiceUnavailable
		}
		s.reject(w, r, status, "could not store the delivery: try again")
	}
}

// ReadBody reads a POSTed delivery's body as every receiver of mlab's
// does: at most max bytes, else status 413; a JSON object or array (what a
// webhook sends), else 400. On a failure body is nil, and status and
// reason are the answer to give.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) (body []byte, status int, reason string) {
	tooBig := fmt.Sprintf("body larger than %d bytes", max)
	if r.ContentLength > max {
		return nil, http.StatusRequestEntityTooLarge, tooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, tooBig
		}
		return nil, http.StatusBadRequest, "could not read body"
	}
	if !isJSON(body) {
		return nil, http.StatusBadRequest, "body is not JSON"
	}
	return body, http.StatusOK, ""
}

// isJSON reports whether body is a single JSON object or array (what a
// webhook sends); scalars are rejected.
func isJSON(body []byte) bool {
	trimmed := strings.TrimLeft(string(body[:min(len(body), 64)]), " \t\r\n")
	if trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') {
		return false
	}
	return json.Valid(body)
}

// Serve answers webhook requests on ln until [Server.Shutdown]. It returns
// nil after a shutdown.
func (s *Server) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// Stray TLS/HTTP noise from the internet must not reach the user's
		// terminal; rejections are reported through Options.OnReject.
		ErrorLog:  log.New(io.Discard, "", 0),
		ConnState: s.conns.track,
	}
	s.srvMu.Lock()
	if s.closed {
		s.srvMu.Unlock()
		return nil
	}
	if s.srv != nil {
		s.srvMu.Unlock()
		return errors.New("listener: Serve called twice")
	}
	s.srv = srv
	s.srvMu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops Serve, letting in-flight requests finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.srvMu.Lock()
	srv := s.srv
	s.closed = true
	s.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("shut down webhook listener: %w", err)
	}
	return nil
}
