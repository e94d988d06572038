package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultBaseURL is ModelsLab's production API host.
	DefaultBaseURL = "https://modelslab.com"
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "mlab"
	// DefaultMaxAttempts is how many times a retryable call is tried in all.
	DefaultMaxAttempts = 5
	// DefaultMaxWait caps a single wait between two attempts.
	DefaultMaxWait = 60 * time.Second

	maxBodyBytes  = 32 << 20 // responses larger than this are cut (and then fail to decode)
	maxDebugBytes = 4 << 10  // bodies longer than this are shortened in the debug log
)

// trustedDomains may receive the key over https when a response's
// fetch_result points at them (subdomains included).
var trustedDomains = []string{"modelslab.com", "stablediffusionapi.com"}

// Client talks to the ModelsLab API. It is safe for concurrent use.
type Client struct {
	base        string
	baseURL     *url.URL
	key         string
	hc          *http.Client
	userAgent   string
	debug       io.Writer
	debugMu     *sync.Mutex
	maxAttempts int
	maxWait     time.Duration
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time
	retryNotify func(RetryEvent) // WithRetryNotify; nil: none
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (its Transport, Timeout, Jar). The
// redirect policy is replaced so the key never follows a redirect to an
// untrusted host.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithDebug writes one line per HTTP exchange to w: method, URL, HTTP status,
// duration and both bodies, with the API key redacted everywhere.
func WithDebug(w io.Writer) Option {
	return func(c *Client) { c.debug = w }
}

// WithRetry sets how many attempts a retryable call gets in all (at least 1)
// and the cap on one wait between attempts (<= 0 keeps DefaultMaxWait).
func WithRetry(maxAttempts int, maxWait time.Duration) Option {
	return func(c *Client) {
		if maxAttempts < 1 {
			maxAttempts = 1
		}
		c.maxAttempts = maxAttempts
		if maxWait > 0 {
			c.maxWait = maxWait
		}
	}
}

// WithSleep replaces the function used to wait between attempts (a test
// seam). It must return early with ctx.Err() when ctx ends.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) {
		if sleep != nil {
			c.sleep = sleep
		}
	}
}

// New returns a client for baseURL (e.g. "https://modelslab.com"; a trailing
// slash is ignored; "" means DefaultBaseURL) that authenticates with key.
func New(baseURL, key string, opts ...Option) *Client {
	base := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	if base == "" {
		base = DefaultBaseURL
	}
	c := &Client{
		base:        base,
		key:         key,
		hc:          defaultHTTPClient,
		userAgent:   DefaultUserAgent,
		debugMu:     new(sync.Mutex),
		maxAttempts: DefaultMaxAttempts,
		maxWait:     DefaultMaxWait,
		sleep:       sleepCtx,
		now:         time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	c.baseURL, _ = url.Parse(c.base)
	hc := *c.hc // a copy: never change the caller's client
	hc.CheckRedirect = c.checkRedirect
	c.hc = &hc
	return c
}

// Key returns the API key the client sends (for a caller that makes its
// own calls to the same API, such as model discovery). Never print it.
func (c *Client) Key() string { return c.key }

// BaseURL returns the base URL without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// HTTPClient is the HTTP client the API calls go through (it holds no
// key: the key is added to each request), for other requests to the same
// world: output links, probes of them.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// defaultHTTPClient bounds each phase of a call that has no deadline of its
// own: connecting, the TLS handshake and the wait for the answer's headers.
// (A command's --timeout arrives as the context's deadline.)
var defaultHTTPClient = &http.Client{Transport: boundedTransport()}

// Phase bounds of the default client.
const (
	DialTimeout           = 10 * time.Second
	TLSHandshakeTimeout   = 10 * time.Second
	ResponseHeaderTimeout = 2 * time.Minute
)

func boundedTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = TLSHandshakeTimeout
	tr.ResponseHeaderTimeout = ResponseHeaderTimeout
	return tr
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Submit POSTs body to the endpoint's submit URL, adding the key in the body
// and/or the "key" header as ep.Auth says. body is not modified. The answer
// is decoded with [DecodeFor], so a training submit (training_id) and a
// workflow run (HTTP 202, execution_id) come back as processing.
//
// It retries only when the server certainly did not take the job: HTTP 429
// (waiting retry_after, else Retry-After, else 1s, 2s, 4s…), HTTP 503 and
// connection failures before anything was sent. The body is decoded whatever
// the HTTP status. A response with status success or processing (or another
// status with an id) is returned; anything else is an *Error (a workflow
// answered 404 or 422 is KindRejected with the server's message). A path
// placeholder left unset (see [Endpoint.WithPathParams]) is an *Error of
// KindRejected and nothing is sent. When ctx ends, the error wraps ctx.Err()
// and is not an *Error.
func (c *Client) Submit(ctx context.Context, ep Endpoint, body map[string]any) (*Response, error) {
	op := "submit " + ep.Name
	if ep.SubmitPath == "" {
		return nil, fmt.Errorf("%s: endpoint has no submit path", op)
	}
	if unset := unsetParams(ep.SubmitPath); len(unset) > 0 {
		return nil, c.missingParams(op, unset)
	}
	return c.submit(ctx, op, request{
		method: http.MethodPost, auth: ep.Auth, target: ep.SubmitURL(c.base), body: body,
		decode: func(b []byte) (*Response, error) { return DecodeFor(ep, b) },
	})
}

func (c *Client) missingParams(op string, names []string) *Error {
	return &Error{Op: op, Kind: KindRejected, Message: "path parameter " + strings.Join(names, ", ") + " is not set",
		secrets: c.secrets(nil)}
}

// submit sends rq with the submit retry policy.
func (c *Client) submit(ctx context.Context, op string, rq request) (*Response, error) {
	accept := func(x exchange) (*Response, bool) {
		if x.err == nil && x.resp != nil && submitAccepted(x.resp) {
			return x.resp, true
		}
		return nil, false
	}
	resp, err := retry(ctx, c, c.maxAttempts, op, rq, accept, submitRetryable)
	var ae *Error
	if errors.As(err, &ae) && ae.Kind == KindRejected && ae.noJob {
		ae.Refused = true
	}
	return resp, err
}

// retry sends rq until accept takes the answer, retryable says an answer
// is not worth another try, the attempts run out or ctx ends; it sleeps the
// backoff (honouring retry_after / Retry-After) between tries. The request
// body is rebuilt by send on every attempt.
func retry[T any](ctx context.Context, c *Client, attempts int, op string, rq request, accept func(exchange) (T, bool), retryable func(exchange) bool) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return zero, fmt.Errorf("%s: %w", op, err)
		}
		x := c.send(ctx, rq)
		if x.fatal {
			return zero, fmt.Errorf("%s: %w", op, x.err)
		}
		if x.err != nil && ctx.Err() != nil {
			return zero, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		if v, ok := accept(x); ok {
			return v, nil
		}
		if !retryable(x) || attempt >= attempts {
			return zero, c.errorFrom(op, x)
		}
		wait := c.backoff(x, attempt)
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			// The server asks for more time than the command has left:
			// wait out what is left (Ctrl-C still ends it at once), then
			// give the server's answer, not a bare timeout.
			if err := c.sleep(ctx, dl.Sub(c.now())); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return zero, fmt.Errorf("%s: %w", op, err)
			}
			return zero, c.errorFrom(op, x)
		}
		c.notifyRetry(op, attempt, wait, x)
		if err := c.sleep(ctx, wait); err != nil {
			return zero, fmt.Errorf("%s: %w", op, err)
		}
	}
}

// submitRetryable: the server certainly did not take the request.
func submitRetryable(x exchange) bool {
	return (x.err != nil && isDialError(x.err)) ||
		(x.err == nil && (x.code == http.StatusTooManyRequests || x.code == http.StatusServiceUnavailable))
}

// fetchRetryable: any transient failure of an idempotent call.
func fetchRetryable(x exchange) bool {
	if x.err != nil || x.code == http.StatusTooManyRequests || x.code >= 500 {
		return true
	}
	if x.resp != nil {
		if k, ok := kindFromMessage(x.resp.Message); ok && k == KindRateLimited {
			return true
		}
	}
	return false
}

func submitAccepted(r *Response) bool {
	switch r.State() {
	case StateSuccess, StateProcessing:
		return true
	case StateUnknown:
		return r.ID != ""
	}
	return false
}

// Fetch asks for the state of job id. It calls fetchURL (a fetch_result or
// a workflow status_url) when that URL is trusted (same scheme and host as
// the base URL, or https on modelslab.com, stablediffusionapi.com or their
// subdomains), else ep.FetchURL(BaseURL, id); the key is never sent anywhere
// else. The call is ep.FetchMethod: POST {"key": …} by default (key placed
// as ep.Auth says), or GET with no body and the key in the "key" header
// (workflows). The answer is decoded with [DecodeFor].
//
// Network errors, 5xx and 429 are retried up to the attempt limit. A decoded
// body with status success, processing, failed or error (a failed job such
// as "Request not found") is a result, returned with a nil error; so is any
// 2xx JSON object. Auth, credit and forbidden answers, exhausted retries and
// non-JSON bodies are an *Error. When ctx ends, the error wraps ctx.Err().
func (c *Client) Fetch(ctx context.Context, ep Endpoint, id, fetchURL string) (*Response, error) {
	return c.fetch(ctx, ep, id, fetchURL, c.maxAttempts)
}

// FetchOnce is [Client.Fetch] with a single attempt: a transient failure
// (network, 5xx, 429) is returned at once as an *Error, with the server's
// RetryAfter, for a caller that schedules its own retries (a job wait,
// whose every request counts against its fetch budget).
func (c *Client) FetchOnce(ctx context.Context, ep Endpoint, id, fetchURL string) (*Response, error) {
	return c.fetch(ctx, ep, id, fetchURL, 1)
}

func (c *Client) fetch(ctx context.Context, ep Endpoint, id, fetchURL string, attempts int) (*Response, error) {
	op := "fetch"
	if id != "" {
		op += " " + id
	}
	var target string
	switch {
	case fetchURL != "" && c.Trusted(fetchURL):
		target = fetchURL
	case id != "" && ep.FetchPath != "":
		if unset := unsetParams(ep.FetchPath); len(unset) > 0 {
			return nil, c.missingParams(op, unset)
		}
		target = ep.FetchURL(c.base, id)
	default:
		return nil, fmt.Errorf("%s: no job id and no trusted fetch URL", op)
	}
	method := ep.fetchMethod()
	rq := request{
		method: method, auth: ep.Auth, target: target, noBody: method == http.MethodGet,
		decode: func(b []byte) (*Response, error) { return DecodeFor(ep, b) },
	}
	return retry(ctx, c, attempts, op, rq, fetchResult, fetchRetryable)
}

func fetchResult(x exchange) (*Response, bool) {
	if x.err != nil || x.resp == nil {
		return nil, false
	}
	if _, decided := kindFromHTTP(x.code); decided {
		return nil, false
	}
	r := x.resp
	switch r.State() {
	case StateSuccess, StateProcessing:
		return r, true
	case StateFailed:
		if _, special := kindFromMessage(r.Message); special {
			return nil, false
		}
		return r, true
	}
	return r, x.code >= 200 && x.code <= 299
}

// Trusted reports whether the key may be sent to rawURL: same scheme and
// host as the base URL, or https (default port) on modelslab.com,
// stablediffusionapi.com or one of their subdomains.
func (c *Client) Trusted(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.User != nil || u.Host == "" {
		return false
	}
	if b := c.baseURL; b != nil && strings.EqualFold(u.Scheme, b.Scheme) && strings.EqualFold(u.Host, b.Host) {
		return true
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return false
	}
	if p := u.Port(); p != "" && p != "443" {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	for _, d := range trustedDomains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !c.Trusted(req.URL.String()) {
		return http.ErrUseLastResponse
	}
	return nil
}

// exchange is the outcome of one HTTP attempt.
type exchange struct {
	code   int
	header http.Header
	body   []byte
	resp   *Response // nil when the body is not a JSON object
	decErr error
	err    error // transport error; code may still be set if the body failed mid-way

	secrets []string // what to redact from anything derived from this exchange
	fatal   bool     // the request could not even be built: no retry, no *Error
}

// payload returns a fresh copy of body with the key placed as auth says.
func (c *Client) payload(auth AuthStyle, body map[string]any) map[string]any {
	p := make(map[string]any, len(body)+1)
	for k, v := range body {
		p[k] = v
	}
	switch {
	case auth.inBody() && c.key != "":
		p["key"] = c.key
	case auth.inBody():
		if _, ok := p["key"]; !ok {
			p["key"] = ""
		}
	default:
		delete(p, "key")
	}
	return p
}

// secrets lists the strings to redact: the key in its raw, JSON-escaped and
// URL-escaped forms, plus any key the caller put in the body.
func (c *Client) secrets(body map[string]any) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if j, err := json.Marshal(s); err == nil {
			out = append(out, string(j[1:len(j)-1]))
		}
		out = append(out, url.QueryEscape(s), url.PathEscape(s))
	}
	add(c.key)
	if s, ok := body["key"].(string); ok && s != c.key {
		add(s)
	}
	return out
}

// request is one HTTP call to make (possibly several times).
type request struct {
	method string
	auth   AuthStyle
	target string
	body   map[string]any // the caller's fields; never modified
	noBody bool           // send no body (GET): the key goes in the header
	decode func([]byte) (*Response, error)
}

// send performs one attempt: it encodes a fresh body, sends it, reads and
// decodes the answer.
func (c *Client) send(ctx context.Context, rq request) exchange {
	secrets := c.secrets(rq.body)
	var (
		p      map[string]any
		reader io.Reader
	)
	if !rq.noBody {
		p = c.payload(rq.auth, rq.body)
		encoded, err := encodeJSON(p)
		if err != nil {
			return exchange{err: fmt.Errorf("encoding request body: %w", err), fatal: true}
		}
		reader = bytes.NewReader(encoded)
	}
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, rq.target, reader)
	if err != nil {
		return exchange{err: fmt.Errorf("building request: %s", Redact(err.Error(), secrets...)), fatal: true}
	}
	if !rq.noBody {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	keyHeader := (rq.auth.inHeader() || rq.noBody) && c.key != ""
	if keyHeader {
		req.Header.Set("key", c.key)
	}
	decode := rq.decode
	if decode == nil {
		decode = Decode
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		x := exchange{err: err, secrets: secrets}
		c.logExchange(method, rq.target, p, keyHeader, x, time.Since(start), secrets)
		return x
	}
	defer resp.Body.Close()
	x := exchange{code: resp.StatusCode, header: resp.Header, secrets: secrets}
	x.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		x.err = fmt.Errorf("reading response body: %w", err)
	} else {
		x.resp, x.decErr = decode(x.body)
	}
	c.logExchange(method, rq.target, p, keyHeader, x, time.Since(start), secrets)
	return x
}

func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// errorFrom turns a failed exchange into an *Error.
func (c *Client) errorFrom(op string, x exchange) *Error {
	secrets := x.secrets
	if secrets == nil {
		secrets = c.secrets(nil)
	}
	e := &Error{Op: op, HTTPStatus: x.code, secrets: secrets}
	if x.err != nil {
		e.Kind = KindNetwork
		e.Err = x.err
		return e
	}
	e.noJob = x.resp == nil || x.resp.ID == ""
	if x.resp != nil {
		e.Status = x.resp.Status
		e.Code = Redact(x.resp.Code, secrets...)
		e.Message = Redact(x.resp.Message, secrets...)
		e.RetryAfter = x.resp.RetryAfter
	}
	if e.RetryAfter == 0 {
		e.RetryAfter = retryAfterHeader(x.header, c.now())
	}
	if k, ok := kindFromHTTP(x.code); ok {
		e.Kind = k
		if x.resp == nil && e.Message == "" {
			e.Message = describeNonJSON(x)
		}
		return e
	}
	if x.resp == nil {
		e.Kind = KindDecode
		e.Message = describeNonJSON(x)
		e.Err = x.decErr
		return e
	}
	if k, ok := kindFromMessage(e.Message); ok {
		e.Kind = k
		return e
	}
	if x.resp.State() == StateFailed || x.code < 200 || x.code > 299 {
		e.Kind = KindRejected
		return e
	}
	e.Kind = KindDecode
	if e.Message == "" {
		e.Message = fmt.Sprintf("unexpected response (status %q, no id)", x.resp.Status)
	}
	return e
}

func describeNonJSON(x exchange) string {
	ct := x.header.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	return fmt.Sprintf("response is not a JSON object (%s, %d bytes)", ct, len(x.body))
}

// backoff returns how long to wait before attempt+1: retry_after from the
// body, else the Retry-After header, else 1s, 2s, 4s…; capped at maxWait.
func (c *Client) backoff(x exchange, attempt int) time.Duration {
	var d time.Duration
	switch {
	case x.resp != nil && x.resp.RetryAfter > 0:
		d = x.resp.RetryAfter
	case retryAfterHeader(x.header, c.now()) > 0:
		d = retryAfterHeader(x.header, c.now())
	default:
		shift := attempt - 1
		if shift > 30 {
			shift = 30
		}
		d = time.Second << shift
	}
	if d > c.maxWait {
		d = c.maxWait
	}
	return d
}

// retryAfterHeader parses Retry-After as seconds or an HTTP date.
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs != secs {
			return 0
		}
		return secondsToDuration(secs)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// isDialError reports whether err happened while connecting, so that
// nothing of the request reached the server.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
