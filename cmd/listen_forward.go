package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/listener"
)

// forwardWorkers is how many deliveries are relayed to the app at once: one
// slow request does not hold up the others.
const forwardWorkers = 4

// forwardQueue is how many deliveries may wait for a worker; past it a
// delivery is reported and not forwarded (it was still answered and shown).
const forwardQueue = 1024

// forwardResult is the outcome of relaying one delivery.
type forwardResult struct {
	sum     deliverySummary
	url     string
	status  int // 0 when the request failed
	elapsed time.Duration
	err     error
}

type forwardJob struct {
	d   listener.Delivery
	sum deliverySummary
}

// forwarder relays deliveries to the user's app from a queue, so the sender
// is answered without waiting for the app.
type forwarder struct {
	url     string
	proto   string // X-Forwarded-Proto: the scheme the sender used
	client  *http.Client
	timeout time.Duration
	report  func(forwardResult)

	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan forwardJob
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending int
}

func newForwarder(target, proto string, timeout time.Duration, report func(forwardResult)) *forwarder {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = forwardWorkers
	tr.Proxy = nil // the app is the user's own, usually on localhost
	ctx, cancel := context.WithCancel(context.Background())
	fw := &forwarder{
		url:   target,
		proto: proto,
		client: &http.Client{
			Transport: tr,
			// A webhook is relayed once, as it came; a redirect is the app's
			// answer, shown as such.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: timeout,
		report:  report,
		ctx:     ctx,
		cancel:  cancel,
		jobs:    make(chan forwardJob, forwardQueue),
	}
	for range forwardWorkers {
		fw.wg.Add(1)
		go fw.work()
	}
	return fw
}

// enqueue queues d without ever blocking; false when the queue is full or
// closed.
func (fw *forwarder) enqueue(d listener.Delivery, sum deliverySummary) bool {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.closed {
		return false
	}
	select {
	case fw.jobs <- forwardJob{d: d, sum: sum}:
		fw.pending++
		return true
	default:
		return false
	}
}

func (fw *forwarder) work() {
	defer fw.wg.Done()
	for j := range fw.jobs {
		res := fw.send(j)
		fw.mu.Lock()
		fw.pending--
		fw.mu.Unlock()
		fw.report(res)
	}
}

// hopHeaders are not relayed: they describe the sender's connection, not
// the delivery (RFC 9110 §7.6.1), or are set by the client itself.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Upgrade": true, "Content-Length": true, "Accept-Encoding": true, "Host": true,
}

func (fw *forwarder) send(j forwardJob) forwardResult {
	res := forwardResult{sum: j.sum, url: fw.url}
	ctx, cancel := context.WithTimeout(fw.ctx, fw.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fw.url, bytes.NewReader(j.d.Body))
	if err != nil {
		res.err = err
		return res
	}
	for k, vs := range j.d.Header {
		if !hopHeaders[k] {
			req.Header[k] = append([]string(nil), vs...)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "") // no Go default: the app sees what the sender sent
	}
	if host, _, err := net.SplitHostPort(j.d.RemoteAddr); err == nil {
		if prior := req.Header.Get("X-Forwarded-For"); prior != "" {
			host = prior + ", " + host
		}
		req.Header.Set("X-Forwarded-For", host)
	}
	if req.Header.Get("X-Forwarded-Proto") == "" {
		req.Header.Set("X-Forwarded-Proto", fw.proto)
	}
	start := time.Now()
	resp, err := fw.client.Do(req)
	res.elapsed = time.Since(start)
	if err != nil {
		res.err = plainNetError(err)
		return res
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.status = resp.StatusCode
	return res
}

// close stops taking deliveries and waits up to bound for the queued ones
// to be relayed; then it aborts what is left and reports how many were not
// forwarded.
func (fw *forwarder) close(bound time.Duration) (abandoned int) {
	fw.mu.Lock()
	if fw.closed {
		fw.mu.Unlock()
		return 0
	}
	fw.closed = true
	close(fw.jobs)
	fw.mu.Unlock()
	done := make(chan struct{})
	go func() { fw.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(bound):
		fw.mu.Lock()
		abandoned = fw.pending
		fw.mu.Unlock()
		fw.cancel()
		<-done
	}
	fw.cancel()
	fw.client.CloseIdleConnections()
	return abandoned
}

// unwrapURLErr drops net/url's `Post "URL":` prefix: the URL is printed
// next to the error already.
func plainNetError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil && oe.Addr != nil {
		msg := oe.Err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return fmt.Errorf("%s %s: %s", oe.Op, oe.Addr, msg)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer in time")
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("stopped while waiting for the answer")
	}
	return err
}
