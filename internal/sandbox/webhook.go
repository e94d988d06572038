package sandbox

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// webhookUserAgent is the User-Agent of webhook POSTs.
const webhookUserAgent = "ModelsLab-Webhook/1.0 (sandbox)"

// scheduleWebhook arms the webhook of j, to fire WebhookDelay after the
// job is done (plus LateWebhookDelay when its fate says late). Nothing is
// scheduled when the job has no webhook, its webhook is dropped or the
// server is closed. No goroutine waits meanwhile: only a timer.
func (s *Server) scheduleWebhook(j *job) {
	if j.webhook == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.planHookLocked("job "+j.idText, j.webhook, j.fate) ||
		!s.armLocked(j.idText, s.hookWaitLocked(j.doneAt, j.fate), func() { s.deliver(j) }) {
		j.held.Store(false) // no webhook to wait for (see Options.WebhookFirst)
	}
}

// armLocked runs fn after wait on a timer registered under name, so Close stops
// it; it reports false (and arms nothing) once the server is closed. The
// caller must hold s.mu. fn runs without s.mu held, after the timer is
// unregistered.
func (s *Server) armLocked(name string, wait time.Duration, fn func()) bool {
	if s.closed {
		return false
	}
	s.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		defer s.wg.Done()
		s.mu.Lock()
		if s.timers[name] == t { // t is set: the caller held s.mu
			delete(s.timers, name)
		}
		s.mu.Unlock()
		fn()
	})
	s.timers[name] = t
	return true
}

// disarmLocked stops the timer registered under name, if any, and reports
// whether it stopped it before it fired. The caller must hold s.mu.
func (s *Server) disarmLocked(name string) bool {
	t := s.timers[name]
	if t == nil {
		return false
	}
	delete(s.timers, name)
	if t.Stop() {
		s.wg.Done()
		return true
	}
	return false
}

// validHookURL tells whether raw is a webhook URL at all: an http(s) URL.
// what names the job in the log.
func validHookURL(what, raw string, logf func(string, ...any)) bool {
	if raw == "" {
		return false
	}
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		logf("sandbox: %s: webhook is not an http(s) URL, not sent", what)
		return false
	}
	return true
}

// deliver POSTs the webhook of j (twice when its fate says so): best
// effort, no retries, like the real service.
func (s *Server) deliver(j *job) {
	var payload object
	if j.failed {
		payload = object{
			{"status", "failed"},
			{"id", j.idValue},
			{"message", j.failMsg},
			{"track_id", j.trackID},
		}
	} else {
		output := j.files
		if j.fate.proxy {
			output = j.proxy
		}
		payload = object{
			{"status", "success"},
			{"id", j.idValue},
			{"output", output},
			{"generationTime", j.generationTime},
			{"track_id", j.trackID},
			{"meta", j.meta},
		}
	}
	// A held job is done to fetches and probes once the first POST has
	// been answered or has failed (a duplicate comes after that), or when
	// no POST goes out at all.
	defer j.held.Store(false)
	s.send("job "+j.idText, j.webhook, payload, j.fate.dup, func() { j.held.Store(false) })
}

// send encodes payload PHP-style and POSTs it to raw, twice when dup.
// what names the job in the log; posted, if set, runs after the first POST
// (answered or not).
func (s *Server) send(what, raw string, payload any, dup bool, posted func()) {
	body, err := phpJSON(payload)
	if err != nil {
		s.logf("sandbox: %s: webhook: %v", what, err)
		return
	}
	times := 1
	if dup {
		times = 2
	}
	for i := range times {
		if s.ctx.Err() != nil {
			return
		}
		s.post(what, raw, body)
		if i == 0 && posted != nil {
			posted()
		}
	}
}

func (s *Server) post(what, raw string, body []byte) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, raw, bytes.NewReader(body))
	if err != nil {
		s.logf("sandbox: %s: webhook: %v", what, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		s.mu.Lock()
		s.stats.WebhookErrors++
		s.mu.Unlock()
		s.logf("sandbox: %s: webhook POST %s failed: %v", what, redactURL(raw), redactErr(err, raw))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	s.mu.Lock()
	s.stats.WebhooksSent++
	s.mu.Unlock()
	s.logf("sandbox: %s: webhook POST %s -> %s", what, redactURL(raw), resp.Status)
}

// redactURL shortens the path and drops the query of a webhook URL: the
// path usually holds the receiver's secret token.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	p := u.EscapedPath()
	if len(p) > 5 {
		p = p[:5] + "…"
	}
	return u.Scheme + "://" + u.Host + p
}

func redactErr(err error, raw string) string {
	return strings.ReplaceAll(err.Error(), raw, redactURL(raw))
}
