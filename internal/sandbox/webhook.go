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

// scheduleWebhook arms the webhook of j, to fire Delay + WebhookDelay after
// submit. Nothing is scheduled when the job has no webhook, webhooks are
// dropped or the server is closed.
func (s *Server) scheduleWebhook(j *job) {
	if j.webhook == "" {
		return
	}
	if u, err := url.Parse(j.webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		s.logf("sandbox: job %s: webhook is not an http(s) URL, not sent", j.idText)
		return
	}
	if s.opts.DropWebhooks {
		s.logf("sandbox: job %s: webhook dropped (DropWebhooks)", j.idText)
		return
	}
	wait := max(time.Until(j.doneAt), 0) + s.opts.WebhookDelay
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	s.timers[j.idText] = time.AfterFunc(wait, func() {
		defer s.wg.Done()
		s.mu.Lock()
		delete(s.timers, j.idText)
		s.mu.Unlock()
		s.deliver(j)
	})
}

// deliver POSTs the webhook of j (twice with DuplicateWebhooks): best
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
		payload = object{
			{"status", "success"},
			{"id", j.idValue},
			{"output", j.files},
			{"generationTime", j.generationTime},
			{"track_id", j.trackID},
			{"meta", j.meta},
		}
	}
	body, err := phpJSON(payload)
	if err != nil {
		s.logf("sandbox: job %s: webhook: %v", j.idText, err)
		return
	}
	times := 1
	if s.opts.DuplicateWebhooks {
		times = 2
	}
	for range times {
		if s.ctx.Err() != nil {
			return
		}
		s.post(j, body)
	}
}

func (s *Server) post(j *job, body []byte) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, j.webhook, bytes.NewReader(body))
	if err != nil {
		s.logf("sandbox: job %s: webhook: %v", j.idText, err)
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
		s.logf("sandbox: job %s: webhook POST %s failed: %v", j.idText, redactURL(j.webhook), redactErr(err, j.webhook))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	s.mu.Lock()
	s.stats.WebhooksSent++
	s.mu.Unlock()
	s.logf("sandbox: job %s: webhook POST %s -> %s", j.idText, redactURL(j.webhook), resp.Status)
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
