package webhook

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// Request is one delivery to send: a forwarded, replayed or sample
// webhook. It is always a POST, as webhooks are.
type Request struct {
	URL    string
	Header http.Header // sent minus the hop-by-hop ones; Content-Type defaults to application/json
	Body   []byte
	// Relay, when set, makes this the relay of a received delivery.
	Relay *Relay
}

// Relay says where a relayed delivery came from: X-Forwarded-For gains
// RemoteAddr's host, X-Forwarded-Proto is Proto unless the sender set one,
// and no User-Agent is made up (the app sees what the sender sent).
type Relay struct {
	RemoteAddr string
	Proto      string // the scheme the sender used: http or https
}

// Result is the receiver's answer to one [Send].
type Result struct {
	Status  int // 0 when the request failed
	Elapsed time.Duration
	Err     error // no answer: a plain network error (see plainNetError)
}

// OK reports a 2xx answer.
func (r Result) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// hopHeaders are not sent on: they describe the sender's connection, not
// the delivery (RFC 9110 §7.6.1), or are set by the client itself.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Upgrade": true, "Content-Length": true, "Accept-Encoding": true, "Host": true,
}

// Send sends r with client and reports the answer; the answer's body is
// read (up to 1 MiB) and discarded. It is the one sender of forward,
// replay and trigger.
func Send(ctx context.Context, client *http.Client, r Request) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Result{Err: err}
	}
	for k, vs := range r.Header {
		if !hopHeaders[k] {
			req.Header[k] = append([]string(nil), vs...)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Relay != nil {
		r.Relay.setHeaders(req.Header)
	}
	start := time.Now()
	resp, err := client.Do(req)
	res := Result{Elapsed: time.Since(start)}
	if err != nil {
		res.Err = plainNetError(err)
		return res
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.Status = resp.StatusCode
	return res
}

func (rl *Relay) setHeaders(h http.Header) {
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "") // no Go default: the app sees what the sender sent
	}
	if host, _, err := net.SplitHostPort(rl.RemoteAddr); err == nil {
		if prior := h.Get("X-Forwarded-For"); prior != "" {
			host = prior + ", " + host
		}
		h.Set("X-Forwarded-For", host)
	}
	if h.Get("X-Forwarded-Proto") == "" {
		h.Set("X-Forwarded-Proto", rl.Proto)
	}
}

// NewClient is the client of replay and trigger: each answer within
// timeout, redirects shown as the answer they are.
func NewClient(timeout time.Duration) *http.Client {
	return newClient(http.DefaultTransport.(*http.Transport).Clone(), timeout)
}

// newClient sends each webhook once, as it is: a redirect is the
// receiver's answer, not an instruction to send it elsewhere.
func newClient(rt http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport:     rt,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
