// Package links watches a job's outputs appear. Nearly every ModelsLab
// generation submit answers with future_links: the final URLs of its
// outputs, which answer 404 until the file exists. Probing them (HEAD, or a
// one-byte ranged GET where HEAD is refused) costs no API call and no queue
// slot, so a job can be known done within a fraction of a second without a
// webhook and without a fetch.
//
// A [Prober] checks one link; a [Budget] bounds the probes of a whole
// process (every job in flight shares it) and backs everyone off when the
// CDN answers 429 or 5xx. The package prints nothing.
package links

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ThrottledError is a CDN answer that asks every probe to slow down: 429,
// or a 5xx. RetryAfter is the Retry-After it gave (0: none).
type ThrottledError struct {
	Status     int
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("CDN answered HTTP %d (retry after %s)", e.Status, e.RetryAfter)
	}
	return fmt.Sprintf("CDN answered HTTP %d", e.Status)
}

// ErrNotProbeable is returned for a link that is not an http(s) URL.
var ErrNotProbeable = errors.New("not an http(s) URL")

// DefaultTimeout bounds one probe.
const DefaultTimeout = 10 * time.Second

// Prober checks whether output links exist. It remembers the hosts that
// refuse HEAD and asks them with a ranged GET instead. It is safe for
// concurrent use; the zero value uses a client of its own.
type Prober struct {
	// Client sends the probes; nil means http.Client's defaults. Each probe
	// is bounded by DefaultTimeout whatever the client.
	Client *http.Client

	mu       sync.Mutex
	getHosts map[string]bool // hosts that refuse HEAD (403/405/501)
	requests int
}

var defaultClient = &http.Client{}

// Check asks whether the file at link exists. It returns true only for a
// 2xx answer that is not an error page (HTML, XML or JSON where a media
// file should be). A missing file (404, 410, or 403 as storage buckets
// answer) is (false, nil). A 429 or 5xx is a *ThrottledError; a network
// failure is an error too: the caller counts it as not ready.
func (p *Prober) Check(ctx context.Context, link string) (bool, error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false, ErrNotProbeable
	}
	host := strings.ToLower(u.Host)
	p.mu.Lock()
	useGet := p.getHosts[host]
	p.mu.Unlock()
	if !useGet {
		status, ready, err := p.do(ctx, http.MethodHead, link)
		if err != nil {
			return false, err
		}
		switch status {
		case http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusForbidden:
			// HEAD refused, or a bucket that says 403 for a missing
			// object: the ranged GET below tells which.
		default:
			return ready, nil
		}
	}
	_, ready, err := p.do(ctx, http.MethodGet, link)
	if err != nil {
		return false, err
	}
	if !useGet {
		// HEAD says nothing here: ask this host with GET from now on (a
		// bucket's 403 for a missing object is the GET's answer too).
		p.mu.Lock()
		if p.getHosts == nil {
			p.getHosts = make(map[string]bool)
		}
		p.getHosts[host] = true
		p.mu.Unlock()
	}
	return ready, nil
}

// Requests is how many HTTP requests the prober has sent.
func (p *Prober) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// sniffBytes is how much of a GET answer is read to tell an error page
// from a file.
const sniffBytes = 512

// do sends one probe and classifies the answer.
func (p *Prober) do(ctx context.Context, method, link string) (status int, ready bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, link, nil)
	if err != nil {
		return 0, false, ErrNotProbeable
	}
	if method == http.MethodGet {
		req.Header.Set("Range", "bytes=0-0")
	}
	client := p.Client
	if client == nil {
		client = defaultClient
	}
	p.mu.Lock()
	p.requests++
	p.mu.Unlock()
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, fmt.Errorf("probe %s: %w", method, err)
	}
	defer resp.Body.Close()
	var head []byte
	if method == http.MethodGet {
		head, _ = io.ReadAll(io.LimitReader(resp.Body, sniffBytes))
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code >= 500 && code != http.StatusNotImplemented:
		return code, false, &ThrottledError{Status: code, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case code >= 200 && code < 300:
		return code, !errorPage(resp.Header.Get("Content-Type"), head), nil
	default:
		return code, false, nil
	}
}

// errorPage tells an HTML, XML or JSON answer (a CDN's or an API's error
// page served with 200) from a media file.
func errorPage(contentType string, head []byte) bool {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		switch {
		case mt == "text/html", mt == "application/xhtml+xml", mt == "application/json",
			strings.HasSuffix(mt, "/xml"), strings.HasSuffix(mt, "+xml") && !strings.HasPrefix(mt, "image/"):
			return true
		}
	}
	// A one-byte range of a real file says nothing; a whole page does.
	if len(head) > 1 {
		t := bytes.TrimLeft(head, " \t\r\n\ufeff")
		if len(t) > 0 && (t[0] == '<' && !bytes.HasPrefix(t, []byte("<svg")) || t[0] == '{') {
			return true
		}
	}
	return false
}

func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
