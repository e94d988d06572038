package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/listener"
)

// Defaults for [Options].
const (
	// DefaultHeartbeatTTL is how long a relay's heartbeat lives; it is
	// refreshed every third of it, so a killed relay is gone from
	// [Broker.Relays] within it.
	DefaultHeartbeatTTL = 15 * time.Second
	// DefaultStoreTimeout bounds storing one delivery; past it the sender
	// gets 503 (and may retry).
	DefaultStoreTimeout = 5 * time.Second
)

// Options configures a [Relay].
type Options struct {
	Broker    Broker // required
	PublicURL string // required: the public base URL the relay is reached by (no trailing slash needed)
	ID        string // unique per relay process; default host-pid-random
	Version   string // mlab's version, advertised
	// Stream, when set (--stream NAME), is a shared stream that every
	// stored delivery is also appended to, for the user's own consumers.
	Stream       string
	MaxBody      int64         // default listener.DefaultMaxBody (10 MiB)
	HeartbeatTTL time.Duration // default DefaultHeartbeatTTL
	StoreTimeout time.Duration // default DefaultStoreTimeout

	// Local, when set, claims the tokens that Next serves instead (mlab
	// listen's own --token and its readiness probes on the same URL):
	// ServeHTTP hands their requests to Next untouched.
	Local func(token string) bool
	Next  http.Handler

	// OnStored is called for every delivery stored (before its 200 is
	// written), from the request's goroutine: keep it quick.
	OnStored func(Delivery)
	// OnReject is called for every request answered 404, 405, 400 or 413.
	OnReject func(listener.Rejection)
	// OnError is called for every delivery answered 503 because the broker
	// could not store it: nothing was acknowledged, the sender may retry.
	OnError func(error)
	// OnHeartbeat is called when the heartbeat starts failing (err) and
	// when it works again (nil).
	OnHeartbeat func(err error)
}

// Stats counts what a relay did.
type Stats struct {
	Stored   uint64 // answered 200 after the broker held them
	NotFound uint64 // 404: token not registered (nothing stored)
	Rejected uint64 // 405, 400, 413
	Failed   uint64 // 503: the broker failed (nothing acknowledged)
}

// Relay is the public side: an http.Handler that stores a POST /<token>
// in the broker before it answers 200, for a token a waiter registered,
// and a heartbeat that tells waiters it is live. See [Relay.Accept] for a
// listener that reads requests itself.
type Relay struct {
	o    Options
	info RelayInfo

	stored, notFound, rejected, failed atomic.Uint64

	hbMu     sync.Mutex
	hbStop   context.CancelFunc
	hbDone   chan struct{}
	hbFailed bool
}

// New checks o and returns a relay; [Relay.Start] begins its heartbeat.
func New(o Options) (*Relay, error) {
	if o.Broker == nil {
		return nil, errors.New("relay: no broker")
	}
	base := strings.TrimRight(strings.TrimSpace(o.PublicURL), "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("relay: public URL %q is not an http(s) URL: the relay needs the URL webhooks reach it by (a tunnel, --public-url)", o.PublicURL)
	}
	if o.Local != nil && o.Next == nil {
		return nil, errors.New("relay: Options.Local without Options.Next")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = listener.DefaultMaxBody
	}
	if o.HeartbeatTTL <= 0 {
		o.HeartbeatTTL = DefaultHeartbeatTTL
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	host, _ := os.Hostname()
	if o.ID == "" {
		o.ID = fmt.Sprintf("%s-%d-%s", safeID(host), os.Getpid(), ids.Hex(4))
	}
	return &Relay{o: o, info: RelayInfo{ID: o.ID, URL: base, Host: host, Version: o.Version, Started: time.Now().UTC().Truncate(time.Millisecond)}}, nil
}

func safeID(s string) string {
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "relay"
	}
	return s
}

// Info is what the relay advertises.
func (r *Relay) Info() RelayInfo { return r.info }

// Stats reports the relay's counts.
func (r *Relay) Stats() Stats {
	return Stats{Stored: r.stored.Load(), NotFound: r.notFound.Load(), Rejected: r.rejected.Load(), Failed: r.failed.Load()}
}

// Start advertises the relay once, then keeps its heartbeat fresh (every
// third of HeartbeatTTL) until [Relay.Stop] or ctx ends. A first heartbeat
// that fails is the error (the broker is unreachable: do not serve); later
// failures are retried every second and reported through OnHeartbeat.
func (r *Relay) Start(ctx context.Context) error {
	r.hbMu.Lock()
	defer r.hbMu.Unlock()
	if r.hbStop != nil {
		return errors.New("relay: Start called twice")
	}
	actx, cancel := context.WithTimeout(ctx, r.o.HeartbeatTTL)
	err := r.o.Broker.Advertise(actx, r.info, r.o.HeartbeatTTL)
	cancel()
	if err != nil {
		return fmt.Errorf("advertise the relay: %w", err)
	}
	hctx, stop := context.WithCancel(ctx)
	r.hbStop, r.hbDone = stop, make(chan struct{})
	go r.heartbeat(hctx, r.hbDone)
	return nil
}

func (r *Relay) heartbeat(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	every := r.o.HeartbeatTTL / 3
	retry := min(time.Second, every)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		actx, cancel := context.WithTimeout(ctx, every)
		err := r.o.Broker.Advertise(actx, r.info, r.o.HeartbeatTTL)
		cancel()
		if ctx.Err() != nil {
			return
		}
		next := every
		if err != nil {
			next = retry
		}
		if (err != nil) != r.hbFailed {
			r.hbFailed = err != nil
			if r.o.OnHeartbeat != nil {
				if err != nil {
					err = fmt.Errorf("relay heartbeat failing (waiters that start now poll instead): %w", err)
				}
				r.o.OnHeartbeat(err)
			}
		}
		t.Reset(next)
	}
}

// Stop ends the heartbeat and withdraws it (within 2 s), so waiters stop
// choosing this relay at once; deliveries are still stored while the
// handler serves. It is idempotent.
func (r *Relay) Stop() {
	if !r.halt() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.o.Broker.Withdraw(ctx, r.info.ID) // best effort: the heartbeat expires anyway
}

// halt ends the heartbeat without withdrawing it (what a killed relay
// leaves behind); false when it was not running.
func (r *Relay) halt() bool {
	r.hbMu.Lock()
	stop, done := r.hbStop, r.hbDone
	r.hbStop = func() {}
	r.hbMu.Unlock()
	if stop == nil || done == nil {
		return false
	}
	stop()
	<-done
	r.hbMu.Lock()
	r.hbDone = nil
	r.hbMu.Unlock()
	return true
}

// Accept stores one delivery of body for token, received at at, and says
// how to answer it: 200 (stored: the broker holds it), 404 (token not
// registered: nothing stored, err nil) or 503 (the broker failed: nothing
// acknowledged; err says why, and OnError was told). A listener that does
// its own reading and limits calls it per delivery; ServeHTTP uses it too.
func (r *Relay) Accept(ctx context.Context, token string, body []byte, at time.Time) (int, error) {
	d := Delivery{Token: token, ID: ids.Hex(12), ReceivedAt: at, RelayID: r.info.ID, Body: body}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.StoreTimeout)
	defer cancel()
	entry, err := r.o.Broker.Append(sctx, d, r.o.Stream)
	switch {
	case errors.Is(err, ErrNotRegistered):
		r.notFound.Add(1)
		return http.StatusNotFound, nil
	case err != nil:
		r.failed.Add(1)
		err = fmt.Errorf("relay: a delivery for token %s… was answered 503 (not stored; the sender may retry): %w", TokenPrefix(token), err)
		if r.o.OnError != nil {
			r.o.OnError(err)
		}
		return http.StatusServiceUnavailable, err
	}
	d.Entry = entry
	r.stored.Add(1)
	if r.o.OnStored != nil {
		r.o.OnStored(d)
	}
	return http.StatusOK, nil
}

// TokenPrefix is the first 6 characters of a token, as every message
// shows a token: enough to tell jobs apart, too few to use. A token comes from a request path, so
// anything but a letter, a digit, '-' or '_' (terminal controls, a cut
// UTF-8 character) is shown as '?'.
func TokenPrefix(tok string) string {
	b := []byte(tok[:min(6, len(tok))])
	for i, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			b[i] = '?'
		}
	}
	return string(b)
}

// ServeHTTP implements http.Handler: POST /<token> with a JSON body of at
// most MaxBody bytes is stored (200), or answered 404 (not registered),
// 503 (the broker failed; Retry-After), 413, 400 or 405; GET and HEAD say
// whether the token is registered (a readiness probe).
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token := listener.TokenOf(req.URL.Path)
	if token != "" && r.o.Local != nil && r.o.Local(token) {
		r.o.Next.ServeHTTP(w, req)
		return
	}
	if token == "" || checkToken(token) != nil {
		r.reject(w, req, http.StatusNotFound, "not found")
		return
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		ctx, cancel := context.WithTimeout(req.Context(), r.o.StoreTimeout)
		ok, err := r.o.Broker.Registered(ctx, token)
		cancel()
		switch {
		case err != nil:
			unavailable(w)
		case !ok:
			r.reject(w, req, http.StatusNotFound, "not found")
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "{\"status\":\"listening\"}\n")
		}
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		r.reject(w, req, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, status, reason := listener.ReadBody(w, req, r.o.MaxBody)
	if body == nil {
		r.reject(w, req, status, reason)
		return
	}
	status, _ = r.Accept(req.Context(), token, body, time.Now())
	switch status {
	case http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{\"status\":\"ok\"}\n")
	case http.StatusNotFound:
		r.report(req, http.StatusNotFound, "not found")
		listener.WriteError(w, http.StatusNotFound, "not found")
	default:
		unavailable(w)
	}
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	listener.WriteError(w, http.StatusServiceUnavailable, "relay storage unavailable: try again")
}

func (r *Relay) reject(w http.ResponseWriter, req *http.Request, status int, reason string) {
	if status == http.StatusNotFound {
		r.notFound.Add(1)
	} else {
		r.rejected.Add(1)
	}
	r.report(req, status, reason)
	listener.WriteError(w, status, reason)
}

func (r *Relay) report(req *http.Request, status int, reason string) {
	if r.o.OnReject != nil {
		r.o.OnReject(listener.Rejection{ReceivedAt: time.Now(), Method: req.Method, Path: req.URL.Path, Status: status, Reason: reason, RemoteAddr: req.RemoteAddr})
	}
}
