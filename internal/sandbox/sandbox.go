package sandbox

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. The zero value is a well-behaved server whose
// jobs take two seconds.
type Options struct {
	// Delay is how long each job runs before it is done; default 2s.
	// Use a negative value for jobs that are done as soon as they are created
	// (while still answering "processing" on submit).
	Delay time.Duration
	// DelayMax, when greater than Delay, makes each job (training, workflow
	// execution) run for a time drawn uniformly in [Delay, DelayMax]
	// instead. The eta reported on submit stays ETA (default Delay).
	DelayMax time.Duration
	// ETA is the eta reported on submit; default Delay. Set it wrong on
	// purpose to test clients that trust it too much.
	ETA time.Duration
	// DropWebhooks means never POST the webhook (DropWebhookRate 1).
	DropWebhooks bool
	// DuplicateWebhooks POSTs every webhook twice, back to back
	// (DuplicateWebhookRate 1).
	DuplicateWebhooks bool
	// WebhookDelay is an extra delay before the webhook POST once the job is
	// done (default 0).
	WebhookDelay time.Duration
	// WebhookFirst makes a generation job's webhook reach its receiver
	// before anything else tells the job is done: until its on-time
	// webhook POST has been answered, or has failed, a fetch says
	// processing and a probe of its output files (a HEAD or a bounded
	// ranged GET, see ProbeRateLimit) is answered 404. On an idle machine
	// that is the order anyway, as the files appear when the webhook
	// leaves; on a loaded one a probe or a fetch can land before the POST
	// does, and a test of the webhook path would see the job end by its
	// links or a poll. Plain downloads are not held: a client that has the
	// webhook downloads at once, before the sandbox has read the answer.
	// WebhookDelay then plays a slow delivery. A dropped or late webhook,
	// an Immediate answer or a submit without a webhook holds nothing back.
	WebhookFirst bool
	// DropWebhookRate is the share of jobs (trainings, workflow executions)
	// whose webhook is never sent, from 0 to 1. Which jobs is drawn from
	// Seed: see Seed.
	DropWebhookRate float64
	// DuplicateWebhookRate is the share of jobs whose webhook is POSTed
	// twice, back to back.
	DuplicateWebhookRate float64
	// LateWebhookRate is the share of jobs whose webhook is sent
	// LateWebhookDelay after the job is done (on top of WebhookDelay): a
	// client polling meanwhile sees the result first.
	LateWebhookRate float64
	// LateWebhookDelay is how late a late webhook is; default 10s.
	LateWebhookDelay time.Duration
	// ETAError, when positive, makes the eta reported on submit the job's
	// true duration off by up to this share either way (0.3: ±30%), drawn
	// from Seed per job, instead of ETA: clients must not trust it too much.
	ETAError float64
	// SubmitDelay holds every generation submit's answer this long after
	// the job was created (it runs, and its webhook is sent, meanwhile).
	SubmitDelay time.Duration
	// FileSize pads every generated output file to at least this many
	// bytes (zeros after the real content, which decoders ignore), and
	// FileRate, when positive, serves output files at this many bytes per
	// second: big, slow downloads offline.
	FileSize int64
	FileRate int64
	// ProxyWebhookRate is the share of generation jobs whose success
	// webhook carries the proxy links as its output instead of the future
	// links of the submit answer (the real API can send either), so that a
	// client that trusts only future links confirms them with a fetch.
	ProxyWebhookRate float64
	// FetchErrorRate is the share of fetch requests (fine_tune_status and
	// workflow status included) answered HTTP 500, 502 or 503 with a JSON
	// or an HTML error body, each chosen at random; the job is unaffected.
	FetchErrorRate float64
	// HeadStatus, when non-zero (403 or 405, say), answers every HEAD of
	// an output file (generations, workflow outputs, under /proxy too)
	// with this status and no body, ready or not, like a CDN or a signed
	// bucket URL that refuses HEAD; 405 comes with "Allow: GET". GETs,
	// ranged or not, work as before. Refused HEADs still count as probes.
	// A value outside 200-599 means 405.
	HeadStatus int
	// ProbeRateLimit, when positive, is how many probes of output files
	// (HEAD, or a GET of a bounded byte range such as "bytes=0-0") are
	// answered normally within any rolling second; the others are
	// answered 429 Too Many Requests with "Retry-After: 1", like a CDN's
	// rate limit. Downloads (plain GETs) are never limited.
	ProbeRateLimit int
	// ProbeErrorRate is the share of probes answered 503 (nginx's HTML
	// page, no body to a HEAD), drawn from Seed in the order the probes
	// arrive; rate-limited probes are answered 429 instead.
	ProbeErrorRate float64
	// RateLimitBurst and RateLimitEvery make bursts of 429s: after every
	// RateLimitEvery-th accepted submit, the next RateLimitBurst submits
	// are answered 429 like RateLimit's. Both must be positive.
	RateLimitBurst int
	RateLimitEvery int
	// QueueLimit, when positive, is how many generation jobs may be
	// processing at once (the plan's queue): a submit over it is answered
	// 429 {"status":"error","message":"Rate limit exceeded. Maximum
	// <QueueLimit> queued requests allowed.","retry_after":<RetryAfter>}.
	// Trainings and workflow executions are not counted.
	QueueLimit int
	// Seed seeds every random choice of the fault knobs (DelayMax and the
	// rates), so a soak run can be replayed; 0 picks a random seed, which
	// Server.Seed reports. A job's fate depends only on the seed and its
	// id, so the same seed gives the k-th job the same fate however
	// concurrent submits interleave; the fetches that fail are drawn in
	// the order the fetches arrive, and the probes that fail in the order
	// the probes arrive (a stream of their own: probing does not change
	// which fetches fail).
	Seed int64
	// NoRecord records requests without their bodies (method, path,
	// status and time only), for soaks that make many thousands of calls.
	NoRecord bool
	// Fail makes every job end failed: the webhook and fetch say "failed"
	// with FailMessage.
	Fail bool
	// FailMessage is the reason given for failed jobs; default
	// "Failed, Try Again" (the legacy wording).
	FailMessage string
	// FirstID is the first job id handed out (the next ones follow it);
	// 0 draws a random 9-digit one per Server (crypto/rand), so that the
	// journals and output directories of runs against fresh sandboxes do
	// not fill with the same ids. Fault fates follow a job's rank, not its
	// id: a Seed replays the same faults whatever FirstID is.
	FirstID int64
	// Immediate answers a submit with status "success" directly (no
	// processing); the files are ready at once.
	Immediate bool
	// RateLimit answers the first N submits with HTTP 429
	// {"status":"error","message":"Rate limit exceeded. Maximum 5 queued
	// requests allowed.","retry_after":<RetryAfter seconds>}.
	RateLimit int
	// RetryAfter is the retry_after of RateLimit answers; default 1s.
	// Whole seconds are written as a JSON integer, anything else as a
	// float (0.05).
	RetryAfter time.Duration
	// Key, when set, is the only API key accepted; "" accepts any non-empty
	// key.
	Key string
	// StringIDs emits ids as JSON strings instead of integers (v7 ids are
	// strings anyway).
	StringIDs bool
	// V7SubmitError makes every v7 submit (with a valid key) answer the
	// provider's refusal, HTTP 200 {"status":"error","code":
	// "provider_error","message":"The provider refused the request."}, with
	// no id and no job; a model_id of "provider-error" does it for one
	// submit.
	V7SubmitError bool
	// CancelWorkflows makes every workflow execution end "cancelled"
	// instead of "completed" (Fail still wins: a failing execution ends
	// "failed").
	CancelWorkflows bool
	// WorkflowWebhookShape picks the body of workflow webhooks, the two
	// shapes ModelsLab documents: "flat" (the default; workflows overview
	// page: event, execution_id, workflow_id, status, output{output:[…]},
	// completed_at) or "nested" (webhooks page: event, workflow{…},
	// execution{…, output_data{images:[…]}}). Any other value means flat.
	WorkflowWebhookShape string
	// Logf is an optional log sink for requests, webhooks sent and their
	// answers. API keys are never logged.
	Logf func(format string, args ...any)
}

// Request is one API request the server received.
type Request struct {
	// Time is when the request arrived.
	Time time.Time `json:"time"`
	// Method and Path are the HTTP method and URL path.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Body is the decoded JSON object of the body (nil when it was not a
	// JSON object), with the value of "key" replaced by "[redacted]".
	Body map[string]any `json:"body"`
	// Query is the URL's query (model discovery sends the key and the
	// filters there), the value of "key" replaced by "[redacted]"; nil
	// when there was none or with NoRecord.
	Query map[string][]string `json:"query,omitempty"`
	// HeaderKey tells whether a "key" header was present.
	HeaderKey bool `json:"header_key"`
	// Status is the HTTP status the server answered with.
	Status int `json:"status"`
}

// Stats counts what the server did.
type Stats struct {
	// Submits counts submit requests, including rejected ones (bad key,
	// bad body, rate limited). Training submits (lora_fine_tune,
	// fine_tune) and workflow runs count too.
	Submits int `json:"submits"`
	// Jobs counts jobs created by accepted submits, trainings and workflow
	// executions included.
	Jobs int `json:"jobs"`
	// RateLimited counts submits answered 429: RateLimit, RateLimitBurst
	// and QueueLimit refusals.
	RateLimited int `json:"rate_limited"`
	// SubmitErrors counts submits refused for what they asked, with no
	// job made: a required field missing (v6's 400, v7's HTTP 200
	// "error"), a v7 field with a wrong value, a v7 provider refusal.
	SubmitErrors int `json:"submit_errors"`
	// ModelLists counts model list calls (GET /api/v7/models and GET
	// /api/v6/model-search), whatever their answer; ModelDetails counts
	// GET /api/v6/model-search/{model_id}. A client that caches the
	// catalogue makes few.
	ModelLists   int `json:"model_lists"`
	ModelDetails int `json:"model_details"`
	// Fetches counts fetch requests, whatever their answer, including
	// fine_tune_status and workflow execution status calls.
	Fetches int `json:"fetches"`
	// WebhooksSent counts webhook POSTs that got an HTTP answer (any
	// status); duplicates count twice.
	WebhooksSent int `json:"webhooks_sent"`
	// WebhookErrors counts webhook POSTs that got no HTTP answer
	// (connection refused, timeout, cancelled by Close).
	WebhookErrors int `json:"webhook_errors"`
	// Probes counts HEAD requests and GETs of a bounded byte range
	// ("bytes=0-0") of output files (links watched for readiness),
	// whatever their answer: ready or not, refused, rate limited, failed.
	Probes int `json:"probes"`
	// ProbesReady counts probes answered 200 or 206: the file was there.
	ProbesReady int `json:"probes_ready"`
	// ProbesRateLimited counts probes answered 429 by ProbeRateLimit.
	ProbesRateLimited int `json:"probes_rate_limited"`
	// ProbeErrors counts probes answered 503 by ProbeErrorRate.
	ProbeErrors int `json:"probe_errors"`
	// MaxProbesPerSecond is the most probes that arrived within any one
	// second (any window (t-1s, t]), answered or refused: what a client's
	// probe budget let through.
	MaxProbesPerSecond int `json:"max_probes_per_second"`
	// Downloads counts output files served with 200 or 206 to a GET that
	// is not a probe (generation and workflow outputs, not uploads).
	Downloads int `json:"downloads"`
	// Uploads counts files stored by base64_to_url.
	Uploads int `json:"uploads"`
	// WebhooksDropped counts jobs (trainings, workflow executions) with a
	// webhook URL whose webhook was never sent by DropWebhooks or
	// DropWebhookRate.
	WebhooksDropped int `json:"webhooks_dropped"`
	// WebhooksDuplicated counts jobs whose webhook was armed to be POSTed
	// twice (DuplicateWebhooks, DuplicateWebhookRate).
	WebhooksDuplicated int `json:"webhooks_duplicated"`
	// WebhooksLate counts jobs whose webhook was armed LateWebhookDelay
	// late.
	WebhooksLate int `json:"webhooks_late"`
	// FetchErrors counts fetches answered 5xx by FetchErrorRate.
	FetchErrors int `json:"fetch_errors"`
	// Processing is how many generation jobs are processing now.
	Processing int `json:"processing"`
	// MaxProcessing is the most generation jobs that were processing at
	// once.
	MaxProcessing int `json:"max_processing"`
}

// Server is a ModelsLab-compatible API. It implements http.Handler, so it can
// be mounted on an httptest.Server, or it can serve by itself with Start.
type Server struct {
	opts Options

	ctx    context.Context // cancelled by Close; bounds webhook sends
	cancel context.CancelFunc
	client *http.Client
	tr     *http.Transport
	wg     sync.WaitGroup // pending webhook timers and senders

	failMsgSet bool // Options.FailMessage was given (not defaulted)

	mu          sync.Mutex
	firstID     int64 // Options.FirstID, or the random one drawn
	nextID      int64
	jobs        map[string]*job
	trainings   map[string]*training
	trainOrder  []*training
	execs       map[int64]*execution
	nextExec    int64
	wfCalls     map[string]*wfUsage
	uploads     map[int64]*upload
	nextUpload  int64
	timers      map[string]*time.Timer
	reqs        reqLog
	stats       Stats
	rateLimited int
	accepted    int        // submits accepted, for RateLimitEvery
	burstLeft   int        // 429s left in the current RateLimitBurst
	running     doneHeap   // end times of the generation jobs processing
	seed        uint64     // Options.Seed, or the random one picked
	rng         *rand.Rand // fetch faults; guarded by mu
	probeRng    *rand.Rand // probe faults (ProbeErrorRate); guarded by mu
	probesSeen  window     // probes of the last second, for MaxProbesPerSecond
	probesOK    window     // probes let through in the last second (ProbeRateLimit)
	nextReqID   int64      // request_id of model discovery answers
	closed      bool
	srv         *http.Server
	url         string
	serveDone   chan struct{}
}

// firstID is the id the fates of jobs are drawn for: the k-th job's fate
// is drawn as if its id were firstID+k (see fateOf).
const firstID = 134701497

// randomFirstID draws a first job id of 9 digits, in the range of real
// ids (tests fix it).
var randomFirstID = func() int64 {
	n, err := crand.Int(crand.Reader, big.NewInt(800_000_000))
	if err != nil {
		return firstID
	}
	return 100_000_000 + n.Int64()
}

// New returns a Server with opts, defaults filled in. It does not listen:
// use it as an http.Handler or call Start.
func New(opts Options) *Server {
	if opts.Delay == 0 {
		opts.Delay = 2 * time.Second
	}
	if opts.Delay < 0 {
		opts.Delay = 0
	}
	if opts.ETA == 0 {
		opts.ETA = opts.Delay
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.LateWebhookDelay <= 0 {
		opts.LateWebhookDelay = 10 * time.Second
	}
	badHead := opts.HeadStatus != 0 && (opts.HeadStatus < 200 || opts.HeadStatus > 599)
	if badHead {
		opts.HeadStatus = http.StatusMethodNotAllowed
	}
	seed := uint64(opts.Seed)
	for seed == 0 {
		seed = rand.Uint64() &^ (1 << 63) // a positive int64, for --seed
	}
	failMsgSet := opts.FailMessage != ""
	if !failMsgSet {
		opts.FailMessage = "Failed, Try Again"
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &http.Transport{
		Proxy:               nil, // webhooks go where they are told, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64, // soaks send webhooks at high concurrency
		IdleConnTimeout:     30 * time.Second,
	}
	s := &Server{
		opts:       opts,
		seed:       seed,
		rng:        rand.New(rand.NewPCG(seed, 0x5eed_f37c)),
		probeRng:   rand.New(rand.NewPCG(seed, 0x9b0b_ed9e)),
		failMsgSet: failMsgSet,
		ctx:        ctx,
		cancel:     cancel,
		tr:         tr,
		client: &http.Client{
			Transport: tr,
			Timeout:   10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		firstID:    opts.FirstID,
		jobs:       map[string]*job{},
		trainings:  map[string]*training{},
		execs:      map[int64]*execution{},
		nextExec:   firstExecID,
		wfCalls:    map[string]*wfUsage{},
		uploads:    map[int64]*upload{},
		nextUpload: firstUploadID,
		timers:     map[string]*time.Timer{},
	}
	if s.firstID <= 0 {
		s.firstID = randomFirstID()
	}
	s.nextID = s.firstID
	if badHead {
		s.logf("sandbox: HeadStatus is not an HTTP status from 200 to 599: HEAD is refused with 405")
	}
	if opts.DelayMax > opts.Delay || opts.DropWebhookRate > 0 || opts.DuplicateWebhookRate > 0 ||
		opts.LateWebhookRate > 0 || opts.FetchErrorRate > 0 || opts.ProbeErrorRate > 0 {
		s.logf("sandbox: fault seed %d (replay with --seed %d)", s.Seed(), s.Seed())
	}
	return s
}

// Seed returns the seed of the fault knobs: Options.Seed, or the random
// one New picked when it was 0.
func (s *Server) Seed() int64 { return int64(s.seed) }

// Start listens on addr ("" means "127.0.0.1:0"), serves in the background
// and returns the base URL, e.g. "http://127.0.0.1:41234". A wildcard host
// (":8080", "0.0.0.0:8080") is reported as 127.0.0.1.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("sandbox: Start after Close")
	}
	if s.srv != nil {
		return "", errors.New("sandbox: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.url = "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serveDone = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("sandbox: serve: %v", err)
		}
	}(s.srv, s.serveDone)
	return s.url, nil // the caller says where (mlab sandbox prints it once)
}

// URL returns the base URL Start returned, or "" if the server was not
// started with Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops serving (when started with Start), cancels pending webhooks
// and timers, aborts webhook POSTs in flight and waits for every goroutine
// the server started. No webhook is sent after Close returns. Close is
// idempotent. Once closed, the handler still answers requests but schedules
// no more webhooks.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for id, t := range s.timers {
		if t.Stop() {
			s.wg.Done() // the timer function will never run
		}
		delete(s.timers, id)
	}
	srv, done := s.srv, s.serveDone
	s.mu.Unlock()

	s.cancel()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err = srv.Shutdown(ctx); err != nil {
			err = srv.Close()
		}
		cancel()
		<-done
	}
	s.wg.Wait()
	s.tr.CloseIdleConnections()
	return err
}

// Requests returns every request under /api/ received so far, in order,
// with keys redacted. Requests for /_sandbox/, for output files and for
// other unknown paths are not recorded.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs.all()
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Processing = s.processingLocked(time.Now())
	return st
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// ServeHTTP answers the API (/api/v3 … /api/v7, /api/v1/workflows and
// model discovery: GET /api/v7/models, GET /api/v6/model-search[/{id}]), the
// output files (/generations/, /proxy/generations/, /workflow-outputs/,
// /proxy/workflow-outputs/), the files stored by base64_to_url (/uploads/)
// and the sandbox's own endpoints:
// GET /_sandbox/health, GET /_sandbox/requests (Requests as a JSON array)
// and GET /_sandbox/stats (Stats as a JSON object). Anything else is a 404
// {"status":"error","message":"Not found"}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/_sandbox/health":
		if !getOrHead(w, r) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case p == "/_sandbox/requests":
		if !getOrHead(w, r) {
			return
		}
		reqs := s.Requests()
		if reqs == nil {
			reqs = []Request{}
		}
		writeJSON(w, http.StatusOK, reqs)
	case p == "/_sandbox/stats":
		if !getOrHead(w, r) {
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
	case strings.HasPrefix(p, "/generations/"), strings.HasPrefix(p, "/proxy/generations/"):
		s.serveFile(w, r)
	case strings.HasPrefix(p, "/workflow-outputs/"), strings.HasPrefix(p, "/proxy/workflow-outputs/"):
		s.serveWorkflowOutput(w, r)
	case strings.HasPrefix(p, "/uploads/"):
		s.serveUpload(w, r)
	case strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r)
	default:
		notFound(w)
	}
}

func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"status": "error", "message": "Method not allowed"})
	return false
}

// writeJSON writes plain (not PHP-escaped) JSON, for the sandbox's own
// endpoints.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"status":"error","message":"sandbox: cannot encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func notFound(w http.ResponseWriter) {
	writePHP(w, http.StatusNotFound, object{{"status", "error"}, {"message", "Not found"}})
}

// baseURL is the URL the request came in on, so links work whether the
// server runs via Start, httptest or behind a port forward.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// DoneAt reports when generation job id finished (or will finish): the
// moment its result became fetchable. Benchmarks use it to measure how long
// a client takes to notice.
func (s *Server) DoneAt(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return time.Time{}, false
	}
	return j.doneAt, true
}

// JobTimes reports, for generation job id, when it was created (its submit
// arrived), when it finished or will finish (DoneAt) and the eta its
// submit answer reported (0 for an Immediate answer, which has none):
// what a benchmark needs to tell a client's lag from a wrong eta.
func (s *Server) JobTimes(id string) (created, done time.Time, eta time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return time.Time{}, time.Time{}, 0, false
	}
	return j.createdAt, j.doneAt, j.eta, true
}
