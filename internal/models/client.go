package models

import (
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
	"time"

	"github.com/mlabcli/mlab/internal/api"
)

// Routes the client calls (the key goes in the query: no Bearer token is
// needed for these).
const (
	PathV7List   = "/api/v7/models"
	PathV6Search = "/api/v6/model-search"
)

// AuthAdvice is what a refused key error tells the user to do.
const AuthAdvice = "the API key was refused: set a valid one with 'mlab config set api_key' or MODELSLAB_API_KEY"

// Client asks ModelsLab about its models. It is safe for concurrent use.
type Client struct {
	base  string
	key   string
	hc    *http.Client
	trust *api.Client // only for Trusted: which hosts may see the key
}

// Query filters a model list. Empty fields are not sent.
type Query struct {
	Search   string
	Feature  string
	Provider string
	// Limit > 0 asks for at most that many models; 0 means all of them
	// (up to MaxModels).
	Limit int
}

// NewClient returns a client for baseURL ("" means api.DefaultBaseURL; a
// trailing slash is ignored) that sends key. hc nil means a client with
// connect, TLS and header timeouts. The caller's client is copied, never
// changed: the copy follows a redirect only to a host that may receive
// the key (the same scheme and host, or https on ModelsLab's domains).
func NewClient(baseURL, key string, hc *http.Client) *Client {
	base := normBase(baseURL)
	if hc == nil {
		hc = defaultHTTPClient
	}
	c := &Client{base: base, key: key, trust: api.New(base, "")}
	cp := *hc
	cp.CheckRedirect = c.checkRedirect
	c.hc = &cp
	return c
}

// BaseURL returns the base URL without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

func normBase(baseURL string) string {
	base := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	if base == "" {
		base = api.DefaultBaseURL
	}
	return base
}

var defaultHTTPClient = &http.Client{Transport: func() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: api.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = api.TLSHandshakeTimeout
	tr.ResponseHeaderTimeout = api.ResponseHeaderTimeout
	return tr
}()}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !c.trust.Trusted(req.URL.String()) {
		return fmt.Errorf("refused a redirect to %s: only %s may receive the API key", req.URL.Host, c.base)
	}
	return nil
}

// PageSize is the most models asked for in one request (per_page and
// limit): the documented routes accept 1–100.
const PageSize = 100

// maxPages bounds the requests of one List.
const maxPages = MaxModels / PageSize

// List returns the models that match q, at most q.Limit (0 means all, up
// to MaxModels): GET /api/v7/models; when that route answers 404 or 405, a
// body that is not JSON, or JSON that is no model list, GET
// /api/v6/model-search with the same parameters. Pages of PageSize are
// followed (page=2, 3, …) while the server's total says more models exist
// and each page brings new ones. Errors are *api.Error (Kind auth for a
// refused key, network, decode, …) whose text never holds the key; a
// server error body keeps the server's message. When ctx ends the error
// wraps ctx.Err().
func (c *Client) List(ctx context.Context, q Query) ([]Model, error) {
	const op = "list models"
	want := MaxModels
	if q.Limit > 0 {
		want = min(q.Limit, MaxModels)
	}
	params := q.values(min(want, PageSize))
	path := PathV7List
	var all []Model
	seen := map[string]bool{}
	for page := 1; page <= maxPages; page++ {
		if page > 1 {
			params.Set("page", strconv.Itoa(page))
		}
		r := c.get(ctx, path, params)
		models, total, derr := decodeListResult(r)
		if page == 1 && worthFallback(r, derr) {
			path = PathV6Search
			r = c.get(ctx, path, params)
			models, total, derr = decodeListResult(r)
		}
		if err := c.failure(ctx, op, r, false); err != nil {
			return nil, err
		}
		if derr != nil {
			return nil, c.decodeError(op, r, derr, false)
		}
		added := 0
		for _, m := range models {
			if !seen[m.ID] && len(all) < want {
				seen[m.ID] = true
				all = append(all, m)
				added++
			}
		}
		// Without a total, total is the page's own length: one page.
		if added == 0 || len(all) >= want || len(all) >= total {
			break
		}
	}
	if all == nil {
		all = []Model{}
	}
	return all, nil
}

// decodeListResult decodes a 2xx answer; anything else gives nil, 0, nil.
func decodeListResult(r result) ([]Model, int, error) {
	if r.err != nil || r.tooBig || r.code < 200 || r.code > 299 {
		return nil, 0, nil
	}
	return DecodeList(r.body)
}

// Show returns one model with its endpoints: GET
// /api/v6/model-search/{id}. An unknown model (HTTP 404, "data": null, or a
// "not found" error body) is an error that matches [ErrNotFound].
func (c *Client) Show(ctx context.Context, id string) (*Detail, error) {
	id = strings.TrimSpace(id)
	op := "show model " + strconv.Quote(clip(id, maxIDLen))
	if id == "" {
		return nil, &api.Error{Op: "show model", Kind: api.KindRejected, Message: "no model id given"}
	}
	seg := url.PathEscape(id)
	if seg == "." || seg == ".." {
		seg = strings.ReplaceAll(seg, ".", "%2E") // a model id, not a path step
	}
	r := c.get(ctx, PathV6Search+"/"+seg, nil)
	if err := c.failure(ctx, op, r, true); err != nil {
		return nil, err
	}
	d, err := DecodeDetail(r.body)
	if err != nil {
		return nil, c.decodeError(op, r, err, true)
	}
	if d.ID == "" {
		d.ID = clip(id, maxIDLen)
	}
	return d, nil
}

func (q Query) values(perPage int) url.Values {
	v := url.Values{}
	for _, p := range []struct{ k, v string }{{"search", q.Search}, {"feature", q.Feature}, {"provider", q.Provider}} {
		if s := strings.TrimSpace(p.v); s != "" {
			v.Set(p.k, s)
		}
	}
	n := strconv.Itoa(perPage)
	v.Set("per_page", n)
	v.Set("limit", n)
	return v
}

// result is one HTTP exchange.
type result struct {
	code   int
	header http.Header
	body   []byte
	err    error // transport error, already scrubbed of the key
	tooBig bool
}

// get sends GET base+path?key=…&params with the key also in the "key"
// header, and reads at most MaxBodyBytes of the answer.
func (c *Client) get(ctx context.Context, path string, params url.Values) result {
	v := url.Values{}
	for k, vs := range params {
		v[k] = vs
	}
	if c.key != "" {
		v.Set("key", c.key)
	}
	target := c.base + path
	if enc := v.Encode(); enc != "" {
		target += "?" + enc
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return result{err: c.scrub(err)}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", api.DefaultUserAgent)
	if c.key != "" {
		req.Header.Set("key", c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{err: c.scrub(err)}
	}
	defer resp.Body.Close()
	r := result{code: resp.StatusCode, header: resp.Header}
	r.body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		r.err = c.scrub(fmt.Errorf("reading the response: %w", err))
	}
	if len(r.body) > MaxBodyBytes {
		r.body, r.tooBig = nil, true
	}
	return r
}

// worthFallback: the v7 route is not there (404/405), or answered
// something that is not JSON, or (with 2xx) JSON that is no model list.
// derr is DecodeList's error on a 2xx answer.
func worthFallback(r result, derr error) bool {
	switch {
	case r.err != nil || r.tooBig:
		return false
	case r.code == http.StatusNotFound || r.code == http.StatusMethodNotAllowed:
		return true
	case r.code >= 200 && r.code <= 299:
		return errors.Is(derr, ErrNotJSON) || errors.Is(derr, ErrUnknownShape)
	case r.code == http.StatusUnauthorized || r.code == http.StatusForbidden ||
		r.code == http.StatusPaymentRequired || r.code == http.StatusTooManyRequests:
		return false
	}
	return !isJSON(r.body)
}

func isJSON(body []byte) bool {
	_, _, err := parseTop(body)
	return err == nil
}

// failure turns a transport failure or a non-2xx answer into an error; nil
// means the body is worth decoding.
func (c *Client) failure(ctx context.Context, op string, r result, show bool) error {
	if r.err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return &api.Error{Op: op, Kind: api.KindNetwork, HTTPStatus: r.code, Err: r.err}
	}
	if r.tooBig {
		return &api.Error{Op: op, Kind: api.KindDecode, HTTPStatus: r.code,
			Message: fmt.Sprintf("the response is larger than %d MiB", MaxBodyBytes>>20)}
	}
	if r.code >= 200 && r.code <= 299 {
		return nil
	}
	msg := c.redact(ServerMessage(r.body))
	e := &api.Error{Op: op, HTTPStatus: r.code, Message: msg}
	switch {
	case r.code == http.StatusUnauthorized:
		e.Kind = api.KindAuth
		e.Message = joinNonEmpty("; ", msg, AuthAdvice)
	case r.code == http.StatusForbidden:
		e.Kind = api.KindForbidden
		e.Message = joinNonEmpty("; ", msg, AuthAdvice+" (or your plan does not include this)")
	case r.code == http.StatusPaymentRequired:
		e.Kind = api.KindCredits
	case r.code == http.StatusTooManyRequests:
		e.Kind = api.KindRateLimited
	case r.code >= 500:
		e.Kind = api.KindServer
	case r.code == http.StatusNotFound && show:
		e.Kind = api.KindRejected
		e.Err = ErrNotFound
		if strings.Contains(strings.ToLower(msg), "not found") {
			e.Message = "" // ErrNotFound says it
		}
	default:
		e.Kind = api.KindRejected
		if looksLikeAuth(msg) {
			e.Kind = api.KindAuth
			e.Message = joinNonEmpty("; ", msg, AuthAdvice)
		}
	}
	if e.Message == "" && e.Err == nil {
		if !isJSON(r.body) {
			e.Message = fmt.Sprintf("%v (%s)", ErrNotJSON, describeBody(r))
		}
	}
	return e
}

// decodeError explains a 2xx body the decoders refused.
func (c *Client) decodeError(op string, r result, err error, show bool) error {
	var re *ResponseError
	switch {
	case errors.As(err, &re):
		msg := c.redact(re.Error())
		e := &api.Error{Op: op, Kind: api.KindRejected, HTTPStatus: r.code, Message: msg}
		switch {
		case looksLikeAuth(msg):
			e.Kind = api.KindAuth
			e.Message = joinNonEmpty("; ", msg, AuthAdvice)
		case show && looksLikeNotFound(re):
			e.Err = ErrNotFound
			e.Message = ""
		}
		return e
	case errors.Is(err, ErrNotFound):
		return &api.Error{Op: op, Kind: api.KindRejected, HTTPStatus: r.code, Err: ErrNotFound}
	case errors.Is(err, ErrNotJSON):
		return &api.Error{Op: op, Kind: api.KindDecode, HTTPStatus: r.code,
			Err: fmt.Errorf("%w (%s)", ErrNotJSON, describeBody(r))}
	}
	return &api.Error{Op: op, Kind: api.KindDecode, HTTPStatus: r.code, Err: err}
}

func describeBody(r result) string {
	ct := r.header.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	return fmt.Sprintf("%s, %d bytes", clip(ct, maxShortLen), len(r.body))
}

func looksLikeAuth(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"api key", "api_key", "apikey", "unauthenticated", "unauthorized", "invalid key"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func looksLikeNotFound(re *ResponseError) bool {
	c := strings.ToLower(re.Code)
	return strings.Contains(strings.ToLower(re.Message), "not found") || strings.Contains(c, "not_found") || c == "404"
}

// secrets are the forms of the key to redact.
func (c *Client) secrets() []string {
	if c.key == "" {
		return nil
	}
	out := []string{c.key, url.QueryEscape(c.key), url.PathEscape(c.key)}
	if j, err := json.Marshal(c.key); err == nil {
		out = append(out, string(j[1:len(j)-1]))
	}
	return out
}

func (c *Client) redact(s string) string { return api.Redact(s, c.secrets()...) }

// scrub returns err with the key removed from its text: the URL of a
// *url.Error loses its key parameter, then every form of the key left
// anywhere in the text is redacted. The cause stays reachable with
// errors.Is / errors.As (a *url.Error in the chain is the scrubbed copy);
// a cause whose own text holds the key is replaced by its redacted text
// (keeping only a context error behind it).
func (c *Client) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := &url.Error{Op: ue.Op, URL: c.redact(redactKeyParam(ue.URL)), Err: c.clean(ue.Err)}
		if ue == err {
			err = cp
		} else {
			err = &scrubbed{msg: strings.Replace(err.Error(), ue.Error(), cp.Error(), 1), err: cp}
		}
	} else {
		err = c.clean(err)
	}
	return &scrubbed{msg: c.redact(err.Error()), err: unwrapScrubbed(err)}
}

// clean returns err when its text holds no form of the key, else its
// redacted text (wrapping ctx's error if err is one).
func (c *Client) clean(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	r := c.redact(s)
	if r == s {
		return err
	}
	var cause error
	for _, ce := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, ce) {
			cause = ce
		}
	}
	return &scrubbed{msg: r, err: cause}
}

func unwrapScrubbed(err error) error {
	if s, ok := err.(*scrubbed); ok {
		return s.err
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// redactKeyParam replaces the value of every "key" query parameter of raw
// (and drops any user:password).
func redactKeyParam(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[url redacted]"
	}
	u.User = nil
	parts := strings.Split(u.RawQuery, "&")
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil && n == "key" || name == "key" {
			parts[i] = "key=" + api.Redacted
		}
	}
	u.RawQuery = strings.Join(parts, "&")
	return u.String()
}
