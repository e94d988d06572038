package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Texts of the real API.
const (
	tipEnterprise = "Get 20x faster image generation using enterprise plan. Click here : https://modelslab.com/enterprise"
	tipFetchImage = "Your image is processing in background, you can get this image using fetch API: here is link for fetch api : https://docs.modelslab.com/image-generation/community-models/dreamboothfetchqueimg"
	tipLegacy     = "1. Make sure you are passing Content-Type: application/json in header. 2. Make sure you are doing POST request with valid JSON. 3. Make sure your JSON does not have error, use jsonlint to validate json array. 4. Make sure you have valid API key."
	tipNotFound   = "Make sure the request id is correct and belongs to your API key; results of old requests expire."
	msgEstimated  = "Try to fetch request after seconds estimated"
	msgTryLater   = "try again later."
	msgRateLimit  = "Rate limit exceeded. Maximum 5 queued requests allowed."
	redacted      = "[redacted]"
	maxBody       = 64 << 20 // base64 inputs can be large
	maxSamples    = 4
)

// apiPath matches the generation API: /api/v3 … /api/v7 (v7Route answers
// v7).
var apiPath = regexp.MustCompile(`^/api/v([3-7])/(.+)$`)

// statusWriter remembers the status written, for Request.Status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets slow (trickled) bodies reach the client as they are written.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// call is one decoded API request.
type call struct {
	body      map[string]any // decoded with UseNumber; nil if not a JSON object
	bodyErr   bool           // the body was present but not a JSON object
	key       string         // the body's "key", else the header's
	headerKey string         // the "key" header
	base      string
	ctx       context.Context // the request's: done when the client gives up
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writePHP(w, http.StatusRequestEntityTooLarge, object{{"status", "error"}, {"message", "Request body too large"}})
			return
		}
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "Invalid API Request"}, {"tip", tipLegacy}})
		return
	}
	c := call{base: baseURL(r), ctx: r.Context()}
	if len(bytes.TrimSpace(raw)) == 0 {
		c.body = map[string]any{}
	} else {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&c.body) != nil || c.body == nil || dec.More() {
			c.body, c.bodyErr = nil, true
		}
	}
	if k, ok := c.body["key"].(string); ok {
		c.key = k
	}
	c.headerKey = r.Header.Get("key")
	if c.key == "" {
		c.key = c.headerKey
	}

	// Record the request (key redacted) before answering.
	rec := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, HeaderKey: r.Header.Values("key") != nil}
	if !c.bodyErr && !s.opts.NoRecord {
		var plain map[string]any
		if json.Unmarshal(raw, &plain) == nil && plain != nil {
			if _, ok := plain["key"]; ok {
				plain["key"] = redacted
			}
			if b64, ok := plain["base64_string"].(string); ok {
				plain["base64_string"] = fmt.Sprintf("<%d bytes>", base64Size(b64))
			}
			rec.Body = plain
		}
	}
	if q := r.URL.Query(); len(q) > 0 && !s.opts.NoRecord {
		if _, ok := q["key"]; ok {
			q["key"] = []string{redacted}
		}
		rec.Query = q
	}
	s.mu.Lock()
	stored := s.reqs.add(rec)
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	note := s.route(sw, r, &c)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	s.mu.Lock()
	stored.Status = sw.status
	s.mu.Unlock()
	if note != "" {
		note = " (" + note + ")"
	}
	s.logf("sandbox: %s %s -> %d%s", r.Method, r.URL.Path, sw.status, note)
}

// route dispatches an /api/ request and returns a short note for the log.
func (s *Server) route(w http.ResponseWriter, r *http.Request, c *call) string {
	if p := r.URL.Path; p == "/api/v1/workflows" || strings.HasPrefix(p, "/api/v1/workflows/") {
		return s.workflowRoute(w, r, c)
	}
	if isModelsPath(r.URL.Path) {
		return s.modelsRoute(w, r)
	}
	m := apiPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		notFound(w)
		return ""
	}
	version := m[1]
	if version == "7" {
		return s.v7Route(w, r, c, m[2])
	}
	segs := strings.Split(strings.TrimSuffix(m[2], "/"), "/")
	for _, seg := range segs {
		if seg == "" {
			notFound(w)
			return ""
		}
	}
	fetchAt := -1
	for i, seg := range segs {
		if seg == "fetch" {
			fetchAt = i
			break
		}
	}
	isFetch := fetchAt >= 0 && len(segs) <= fetchAt+2
	if fetchAt >= 0 && !isFetch || fetchAt < 0 && len(segs) > 2 {
		notFound(w)
		return ""
	}
	if r.Method != http.MethodPost {
		// The real API only takes POST here; a GET fetch is a client bug.
		w.Header().Set("Allow", http.MethodPost)
		writePHP(w, http.StatusMethodNotAllowed, object{{"status", "error"}, {"message", "Method not allowed, use POST"}, {"tip", tipLegacy}})
		return ""
	}
	if version == "6" && segs[len(segs)-1] == "base64_to_url" &&
		(len(segs) == 1 || uploadServices[segs[0]]) {
		return s.upload(w, c)
	}
	if version == "3" && !isFetch {
		switch {
		case len(segs) == 1 && (segs[0] == "lora_fine_tune" || segs[0] == "fine_tune"):
			return s.trainSubmit(w, c, segs[0])
		case segs[0] == "fine_tune_status":
			id := idText(c.body["training_id"])
			if len(segs) == 2 {
				id = segs[1]
			}
			return s.trainStatus(w, c, id)
		case len(segs) == 1 && segs[0] == "finetune_list":
			return s.trainList(w, c)
		}
	}
	if isFetch {
		service := strings.Join(segs[:fetchAt], "/")
		id := ""
		if len(segs) == fetchAt+2 {
			id = segs[fetchAt+1]
		} else {
			id = idText(c.body["request_id"])
		}
		return s.fetch(w, c, service, id)
	}
	if len(segs) == 2 && segs[0] == "processing" && segs[1] == "request_count" {
		return s.requestCount(w, c)
	}
	service, op := "", segs[0]
	if len(segs) == 2 {
		service, op = segs[0], segs[1]
	}
	return s.submit(w, c, version, service, op)
}

// authError writes the legacy invalid-key or invalid-request answer when
// the call is not acceptable, and reports whether it did.
func (s *Server) authError(w http.ResponseWriter, c *call) bool {
	if c.bodyErr {
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "Invalid API Request"}, {"tip", tipLegacy}})
		return true
	}
	if c.key == "" || (s.opts.Key != "" && c.key != s.opts.Key) {
		writePHP(w, http.StatusUnauthorized, object{{"status", "error"}, {"message", "Invalid Api Key"}, {"tip", tipLegacy}})
		return true
	}
	return false
}

// promptRequired lists the text-driven v3-v6 operations whose prompt is
// mandatory (v7 has v7Ops).
var promptRequired = map[string]bool{
	"text2img":   true,
	"text2video": true, "text2video_ultra": true,
	"text_to_3d":     true,
	"text_to_speech": true, "text_to_audio": true,
	"music_gen": true, "sfx": true, "lyrics_generator": true,
}

// v6Required lists the fields v6 operations ("service/op") require
// besides a prompt (promptRequired), in the order they are checked: the
// first one missing is reported.
var v6Required = map[string][]string{
	"voice/voice_cover":            {"init_audio"},
	"voice/create_dubbing":         {"init_video", "output_lang"},
	"video/watermark_remover":      {"init_video"},
	"deepfake/single_face_swap":    {"init_image", "target_image"},
	"deepfake/multiple_face_swap":  {"init_image", "target_image"},
	"deepfake/single_video_swap":   {"init_image", "init_video"},
	"deepfake/specific_video_swap": {"init_image", "init_video", "reference_image"},
	"faceswap/single_face_swap":    {"init_image", "target_image"},
	"faceswap/multiple_face_swap":  {"init_image", "target_image"},
	"faceswap/single_video_swap":   {"init_image", "init_video"},
	"faceswap/specific_video_swap": {"init_image", "init_video", "reference_image"},
	"interior/make":                {"init_image", "prompt"},
	"interior/room_decorator":      {"init_image", "prompt"},
	"interior/floor_planning":      {"init_image", "prompt"},
	"interior/scenario":            {"init_image", "prompt"},
	"interior/exterior_restorer":   {"init_image", "prompt"},
	"interior/object_removal":      {"init_image", "object_name"},
	"interior/interior_mixer":      {"init_image", "object_image", "prompt"},
}

// missingField is the first required field a v3-v6 submit lacks, or "".
func missingField(version, service, op string, body map[string]any) string {
	if promptRequired[op] && strings.TrimSpace(str(body["prompt"])) == "" {
		return "prompt"
	}
	if version != "6" {
		return ""
	}
	for _, f := range v6Required[service+"/"+op] {
		if !present(body[f]) {
			return f
		}
	}
	return ""
}

// imageFamily tells whether a service answers like the images API
// ("messege", tip_1); the others say "message".
func imageFamily(service string) bool {
	switch service {
	case "", "images", "realtime", "image_editing", "interior", "faceswap", "deepfake", "dreambooth", "controlnet":
		return true
	}
	return false
}

// fetchURL is the fetch_result of a job: v7 jobs fetch on v7, everything
// else on v6; controlnet and legacy single-segment endpoints on images;
// speech to text on whisper (as the real API does).
func fetchURL(base, version, service, op, id string) string {
	v := "6"
	if version == "7" {
		v = "7"
	}
	switch {
	case service == "" || service == "controlnet" || service == "dreambooth":
		service = "images"
	case service == "voice" && op == "speech_to_text":
		service = "whisper"
	}
	return base + "/api/v" + v + "/" + service + "/fetch/" + id
}

func (s *Server) submit(w http.ResponseWriter, c *call, version, service, op string) string {
	s.mu.Lock()
	s.stats.Submits++
	s.mu.Unlock()
	if s.authError(w, c) {
		return ""
	}
	if f := missingField(version, service, op, c.body); f != "" {
		s.countSubmitError()
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", f + " is required"}})
		return f + " missing"
	}
	if service == "" && op == "controlnet" {
		service = "controlnet"
	}
	j := s.createJob(w, c, version, service, op)
	if j == nil {
		return "rate limited"
	}

	if s.opts.Immediate {
		if j.failed {
			writePHP(w, http.StatusOK, object{
				{"status", "failed"}, {"id", j.idValue}, {"message", j.failMsg}, {"output", ""},
			})
			return "id " + j.idText + ", failed"
		}
		writePHP(w, http.StatusOK, object{
			{"status", "success"},
			{"generationTime", j.generationTime},
			{"id", j.idValue},
			{"output", j.files},
			{"proxy_links", j.proxy},
			{"meta", j.meta},
		})
		return "id " + j.idText + ", immediate"
	}

	ans := object{{"status", "processing"}, {"tip", tipEnterprise}}
	msgKey := "message"
	if imageFamily(service) {
		ans = append(ans, field{"tip_1", tipFetchImage})
		msgKey = "messege"
	}
	ans = append(ans,
		field{"eta", seconds(j.eta)},
		field{msgKey, msgEstimated},
		field{"webhook_status", ""},
		field{"fetch_result", j.fetchResult},
		field{"id", j.idValue},
		field{"output", []string{}},
		field{"meta", j.meta},
		field{"future_links", j.files},
	)
	if !imageFamily(service) {
		ans = append(ans, field{"proxy_links", j.proxy})
	}
	if service == "3d" {
		ans = append(ans, field{"extra_assets", []string{}})
	}
	writePHP(w, http.StatusOK, ans)
	return "id " + j.idText
}

// createJob creates the job of an accepted submit: it applies the rate
// limits (answering 429 and returning nil when one refuses), draws the
// job's fate, stores it, arms its webhook and holds the answer for
// Options.SubmitDelay.
func (s *Server) createJob(w http.ResponseWriter, c *call, version, service, op string) *job {
	now := time.Now()
	s.mu.Lock()
	if s.refuseLocked(w, now, true) {
		return nil
	}
	id := s.nextID
	s.nextID++
	s.stats.Jobs++
	f := s.fateOf("job " + strconv.FormatInt(firstID+id-s.firstID, 10)) // by rank: see Options.FirstID
	doneAt := now.Add(f.dur)
	if s.opts.Immediate {
		doneAt = now
	}
	s.startLocked(now, doneAt)
	s.mu.Unlock()

	j := s.newJob(c, id, version, service, op, f, now, doneAt)

	s.mu.Lock()
	s.jobs[j.idText] = j
	s.mu.Unlock()
	s.scheduleWebhook(j)
	if d := s.opts.SubmitDelay; d > 0 {
		// The job exists (and is paid for) before the answer leaves: the
		// window in which a client that is stopped or killed has no id.
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	return j
}

func (s *Server) fetch(w http.ResponseWriter, c *call, service, id string) string {
	if note, failed := s.fetchFault(w); failed {
		return note
	}
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j != nil && j.v7() {
		j = nil // v7 jobs are fetched on v7 only
	}
	if s.authError(w, c) {
		return ""
	}
	if j == nil {
		writePHP(w, http.StatusOK, object{
			{"status", "failed"}, {"id", ""}, {"message", "Request not found"}, {"output", ""}, {"tip", tipNotFound},
		})
		return "unknown id"
	}
	if !j.fetchedDone(time.Now()) {
		msgKey := "message"
		if imageFamily(service) {
			msgKey = "messege"
		}
		writePHP(w, http.StatusOK, object{
			{"status", "processing"}, {msgKey, msgTryLater}, {"output", ""}, {"tip", tipEnterprise},
		})
		return "id " + id + ", processing"
	}
	if j.failed {
		writePHP(w, http.StatusOK, object{
			{"status", "failed"}, {"id", j.idText}, {"message", j.failMsg}, {"output", ""},
		})
		return "id " + id + ", failed"
	}
	writePHP(w, http.StatusOK, object{
		{"status", "success"}, {"id", j.idValue}, {"output", j.files}, {"proxy_links", j.proxy},
	})
	return "id " + id + ", success"
}

// requestCount answers /api/v6/processing/request_count with the jobs not yet
// done.
func (s *Server) requestCount(w http.ResponseWriter, c *call) string {
	if s.authError(w, c) {
		return ""
	}
	s.mu.Lock()
	n := s.processingLocked(time.Now())
	s.mu.Unlock()
	writePHP(w, http.StatusOK, object{{"status", "success"}, {"processing_count", n}})
	return ""
}

// seconds renders a duration the way the API writes eta and retry_after:
// an integer when whole, else a float.
func seconds(d time.Duration) any {
	if d%time.Second == 0 {
		return int64(d / time.Second)
	}
	return math.Round(d.Seconds()*1000) / 1000
}

// str returns v as text when it is a JSON string or number, else "".
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// idText turns a request_id (string or number) into the id's text.
func idText(v any) string {
	return strings.TrimSpace(str(v))
}

// number reads a numeric parameter sent as a number or a numeric string.
func number(v any) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(str(v)), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// etaOf is the eta the submit answer of a job of fate f reports:
// Options.ETA, or with ETAError the job's true duration off by its drawn
// factor.
func (s *Server) etaOf(f fate) time.Duration {
	if s.opts.ETAError <= 0 {
		return s.opts.ETA
	}
	return max(time.Duration(float64(f.dur)*f.etaFactor), 0).Round(100 * time.Millisecond)
}
