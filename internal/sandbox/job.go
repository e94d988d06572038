package sandbox

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// job is one generation job. Its fields are set at creation and never
// change, so it is read without locking.
type job struct {
	id             int64
	idText         string
	idValue        any    // int64, or string with Options.StringIDs and on v7
	version        string // "3" … "7": the API version of the submit
	service, op    string // on v7 the family (images, video-fusion, voice)
	kind           fileKind
	samples        int
	createdAt      time.Time // the submit arrived
	doneAt         time.Time
	eta            time.Duration // reported on submit (0 when Immediate)
	failed         bool
	failMsg        string
	generationTime float64
	webhook        string
	trackID        any // as sent (nil when absent)
	fetchResult    string
	files, proxy   []string
	meta           object
	fate           fate // drawn from the seed: duration, webhook faults
	// held is set while the job's on-time webhook is still to be answered
	// under Options.WebhookFirst: a fetch says processing and a probe of
	// its files finds nothing yet.
	held atomic.Bool
}

// done tells whether the job has finished (succeeded or failed) at now.
func (j *job) done(now time.Time) bool { return !now.Before(j.doneAt) }

// fetchedDone tells whether a fetch at now sees the job finished: done,
// and not held for its webhook (Options.WebhookFirst).
func (j *job) fetchedDone(now time.Time) bool { return j.done(now) && !j.held.Load() }

// newJob builds job id, which runs until doneAt as f decided.
func (s *Server) newJob(c *call, id int64, version, service, op string, f fate, createdAt, doneAt time.Time) *job {
	j := &job{
		id:        id,
		idText:    strconv.FormatInt(id, 10),
		version:   version,
		service:   service,
		op:        op,
		kind:      kindFor(service, op, c.body),
		samples:   1,
		createdAt: createdAt,
		doneAt:    doneAt,
		fate:      f,
		failed:    s.opts.Fail,
		failMsg:   s.opts.FailMessage,
	}
	if !s.opts.Immediate {
		j.eta = s.etaOf(f)
	}
	j.idValue = id
	if s.opts.StringIDs || j.v7() {
		j.idValue = j.idText
	}
	if j.v7() {
		j.kind = kindForV7(service, op, c.body)
	}
	j.generationTime = math.Round(f.dur.Seconds()*1000) / 1000
	if j.generationTime == 0 {
		j.generationTime = 0.42
	}
	if n, ok := number(c.body["samples"]); ok {
		j.samples = min(max(int(n), 1), maxSamples)
	}
	if wh, ok := c.body["webhook"].(string); ok {
		j.webhook = strings.TrimSpace(wh)
	}
	// Under WebhookFirst an on-time webhook is answered before a fetch or
	// a probe tells the job is done (a late one is late by design);
	// scheduleWebhook lets go when it arms none.
	j.held.Store(s.opts.WebhookFirst && j.webhook != "" && !s.opts.Immediate && !f.drop && !f.late)
	if v, ok := c.body["track_id"]; ok {
		j.trackID = v
	}
	j.fetchResult = fetchURL(c.base, version, service, op, j.idText)
	for n := range j.samples {
		name := fmt.Sprintf("/generations/%d-%d.%s", id, n, j.kind.ext)
		j.files = append(j.files, c.base+name)
		j.proxy = append(j.proxy, c.base+"/proxy"+name)
	}
	if j.v7() {
		j.meta = v7Meta(c)
	} else {
		j.meta = s.meta(c, j)
	}
	return j
}

// v7 tells whether j was submitted on the v7 unified API.
func (j *job) v7() bool { return j.version == "7" }

// meta echoes the effective parameters like the real API: dimensions as
// W/H, the seed chosen, track_id as a string, the id as a string and the
// future links in output.
func (s *Server) meta(c *call, j *job) object {
	b := c.body
	orNull := func(k string) any {
		if v, ok := b[k]; ok {
			return v
		}
		return nil
	}
	num := func(k string, def float64) any {
		if f, ok := number(b[k]); ok {
			return f
		}
		return def
	}
	yesNo := func(k, def string) any {
		switch v := b[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case bool:
			if v {
				return "yes"
			}
			return "no"
		}
		return def
	}
	seed := any(nil)
	if f, ok := number(b["seed"]); ok {
		seed = int64(f)
	} else {
		seed = int64(uint64(j.id) * 2654435761 % 4294967296) // "random" but stable
	}
	var track any
	if t := str(j.trackID); t != "" {
		track = t
	}
	var webhook any
	if j.webhook != "" {
		webhook = j.webhook
	}
	m := object{
		{"prompt", str(b["prompt"])},
		{"model_id", orNull("model_id")},
		{"negative_prompt", str(b["negative_prompt"])},
	}
	if imageFamily(j.service) {
		m = append(m,
			field{"scheduler", orDefault(b["scheduler"], "UniPCMultistepScheduler")},
			field{"safety_checker", yesNo("safety_checker", "no")},
			field{"W", num("width", 512)},
			field{"H", num("height", 512)},
			field{"guidance_scale", num("guidance_scale", 7.5)},
			field{"seed", seed},
			field{"steps", num("num_inference_steps", 30)},
			field{"n_samples", j.samples},
			field{"instant_response", yesNo("instant_response", "no")},
			field{"enhance_prompt", yesNo("enhance_prompt", "no")},
			field{"upscale", yesNo("upscale", "no")},
			field{"lora", orNull("lora_model")},
			field{"lora_strength", num("lora_strength", 1)},
		)
	} else {
		m = append(m, field{"seed", seed})
		if j.service == "3d" {
			m = append(m, field{"output_format", j.kind.ext})
		}
	}
	m = append(m,
		field{"temp", yesNo("temp", "no")},
		field{"base64", yesNo("base64", "no")},
		field{"webhook", webhook},
		field{"track_id", track},
		field{"id", j.idText},
		field{"file_prefix", j.idText},
		field{"output", j.files},
	)
	return m
}

func orDefault(v any, def string) string {
	if s := str(v); s != "" {
		return s
	}
	return def
}

// serveFile serves GET /generations/<id>-<n>.<ext> (and the same under
// /proxy): 404 until the job is done, like real future links.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	probe, answered := s.probeGate(w, r)
	if answered {
		return
	}
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	dot := strings.LastIndexByte(name, '.')
	dash := strings.LastIndexByte(name, '-')
	if dot < 0 || dash < 0 || dash > dot {
		notFound(w)
		return
	}
	idStr, nStr, ext := name[:dash], name[dash+1:dot], name[dot+1:]
	n, err := strconv.Atoi(nStr)
	s.mu.Lock()
	j := s.jobs[idStr]
	s.mu.Unlock()
	if err != nil || j == nil || n < 0 || n >= j.samples || ext != j.kind.ext || j.failed || !j.done(time.Now()) || (probe && j.held.Load()) {
		notFound(w)
		return
	}
	data, err := render(j.kind, j.id, n)
	if err != nil {
		writePHP(w, http.StatusInternalServerError, object{{"status", "error"}, {"message", err.Error()}})
		return
	}
	if pad := s.opts.FileSize - int64(len(data)); pad > 0 {
		data = append(data, make([]byte, pad)...)
	}
	w.Header().Set("Content-Type", j.kind.contentType)
	sw := &statusWriter{ResponseWriter: w}
	if rate := s.opts.FileRate; rate > 0 && r.Method == http.MethodGet {
		s.trickle(sw, r, data, rate)
	} else {
		http.ServeContent(sw, r, name, j.doneAt, strings.NewReader(string(data)))
	}
	s.served(probe, r, sw.status)
}

// served counts an output file answered with status: a ready probe, or
// a download.
func (s *Server) served(probe bool, r *http.Request, status int) {
	if probe {
		s.probeServed(status)
		return
	}
	if r.Method == http.MethodGet && (status == http.StatusOK || status == http.StatusPartialContent) {
		s.mu.Lock()
		s.stats.Downloads++
		s.mu.Unlock()
	}
}

// trickle writes data at rate bytes per second, in chunks of a tenth of a
// second, until done or the client goes away.
func (s *Server) trickle(w http.ResponseWriter, r *http.Request, data []byte, rate int64) {
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	chunk := max(rate/10, 1)
	flusher, _ := w.(http.Flusher)
	t := time.NewTicker(time.Second * time.Duration(chunk) / time.Duration(rate))
	defer t.Stop()
	for len(data) > 0 {
		n := min(int64(len(data)), chunk)
		if _, err := w.Write(data[:n]); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		data = data[n:]
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}
