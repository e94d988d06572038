package sandbox

import (
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The v7 "unified" API: one path per kind of generation, the model picked
// by model_id, three families with a fetch each. Its answers are leaner
// than v6's (no fetch_result, tip or webhook_status), its ids are always
// JSON strings, and a submit it refuses is answered HTTP 200 with status
// "error" and no id.

// v7Ops lists, per family, the v7 operations and the fields each requires
// besides model_id (which all require). create-dubbing's source (init_audio
// or init_video) is checked by v7Validate.
var v7Ops = map[string]map[string][]string{
	"images": {
		"text-to-image":  {"prompt"},
		"image-to-image": {"init_image", "prompt"},
		"inpaint":        {"init_image", "mask_image", "prompt"},
	},
	"video-fusion": {
		"text-to-video":  {"prompt"},
		"image-to-video": {"init_image"},
		"video-to-video": {"init_video", "prompt"},
		"lip-sync":       {"init_video", "init_audio"},
		"motion-control": {"init_image", "init_video", "character_orientation"},
	},
	"voice": {
		"text-to-speech":   {"prompt"},
		"speech-to-text":   {"init_audio"},
		"speech-to-speech": {"init_audio", "voice_id"},
		"sound-generation": {"prompt"},
		"music-gen":        {"prompt"},
		"create-dubbing":   {"target_language"},
		"song-extender":    {"init_audio"},
		"song-inpaint":     {"init_audio"},
	},
}

// v7NoFutureLinks are the models whose v7 processing answer has no
// "future_links" at all: a client can only learn the outputs by fetching
// (or from the webhook).
var v7NoFutureLinks = map[string]bool{
	"sora-2":       true,
	"veo-3.1-fast": true,
	"lipsync-2":    true,
	"scribe_v1":    true,
}

// v7ProviderErrorModel is the model_id whose v7 submits the provider
// refuses (Options.V7SubmitError refuses them all).
const v7ProviderErrorModel = "provider-error"

// v7ProviderError is the v7 answer to a submit the provider refused.
var v7ProviderError = object{
	{"status", "error"},
	{"code", "provider_error"},
	{"message", "The provider refused the request."},
}

// v7Choices are the accepted values of the v7 enumerated fields, per
// operation.
var v7Choices = map[string]map[string][]string{
	"motion-control": {"character_orientation": {"image", "video"}, "mode": {"std", "pro"}},
	"song-extender":  {"side": {"right", "left"}},
}

// present tells whether a required field was sent: not null, not an empty
// or blank string, not an empty array or object.
func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return strings.TrimSpace(v) != ""
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// fieldWords is how Laravel names a field in its messages: "init_image"
// is "init image".
func fieldWords(f string) string { return strings.ReplaceAll(f, "_", " ") }

// v7Validate checks a v7 submit's body the way the real API's validator
// does and returns its complaints, field by field ({"init_image":["The
// init image field is required."]}), or nil when the body is acceptable.
func v7Validate(family, op string, b map[string]any) object {
	var msg object
	add := func(f, text string) {
		for i := range msg {
			if msg[i].k == f {
				msg[i].v = append(msg[i].v.([]string), text)
				return
			}
		}
		msg = append(msg, field{f, []string{text}})
	}
	if !present(b["model_id"]) {
		add("model_id", "The model id field is required.")
	}
	if op == "create-dubbing" && !present(b["init_audio"]) && !present(b["init_video"]) {
		add("init_audio", "The init audio field is required when init video is not present.")
	}
	for _, f := range v7Ops[family][op] {
		if !present(b[f]) {
			add(f, "The "+fieldWords(f)+" field is required.")
		}
	}
	for _, f := range slices.Sorted(maps.Keys(v7Choices[op])) {
		v, sent := b[f]
		if !sent || !present(v) {
			continue
		}
		if s, ok := v.(string); !ok || !slices.Contains(v7Choices[op][f], s) {
			add(f, "The selected "+fieldWords(f)+" is invalid.")
		}
	}
	switch op {
	case "sound-generation":
		// The duration of ElevenLabs sound effects really is sent as
		// "time in seconds"; 1 to 22 seconds.
		if v, sent := b["time in seconds"]; sent && v != nil {
			if n, ok := number(v); !ok || n < 1 || n > 22 {
				add("time in seconds", "The time in seconds field must be a number between 1 and 22.")
			}
		}
	case "song-extender":
		// A string of seconds, "45.0", as on the model page; up to 85.
		if v, sent := b["extend_duration"]; sent && v != nil {
			s, isText := v.(string)
			n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if !isText || err != nil || math.IsNaN(n) || n <= 0 || n > 85 {
				add("extend_duration", `The extend duration field must be a string of seconds between 0 and 85, like "45.0".`)
			}
		}
	}
	return msg
}

// kindForV7 picks the output file type of a v7 job.
func kindForV7(family, op string, body map[string]any) fileKind {
	switch family {
	case "video-fusion":
		return kindMP4
	case "voice":
		switch op {
		case "speech-to-text":
			return kindTXT
		case "create-dubbing":
			if present(body["init_video"]) {
				return kindMP4
			}
			return kindMP3
		}
		if strings.EqualFold(strings.TrimSpace(str(body["output_format"])), "wav") {
			return kindWAV
		}
		return kindMP3
	}
	return kindPNG
}

// v7Meta is the meta of a v7 job: the parameters of the submit as sent,
// the key left out, in key order.
func v7Meta(c *call) object {
	m := object{}
	for _, k := range sortedKeys(c.body) {
		if k != "key" {
			m = append(m, field{k, c.body[k]})
		}
	}
	return m
}

// v7Route answers /api/v7/<rest>: a submit on a known family and
// operation, or a fetch on a family; anything else is a 404.
func (s *Server) v7Route(w http.ResponseWriter, r *http.Request, c *call, rest string) string {
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	ops, known := v7Ops[segs[0]]
	isSubmit := known && len(segs) == 2 && ops[segs[1]] != nil
	isFetch := known && len(segs) == 3 && segs[1] == "fetch" && segs[2] != ""
	if !isSubmit && !isFetch {
		notFound(w)
		return ""
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writePHP(w, http.StatusMethodNotAllowed, object{{"status", "error"}, {"message", "Method not allowed, use POST"}, {"tip", tipLegacy}})
		return ""
	}
	if isFetch {
		return s.v7Fetch(w, c, segs[0], segs[2])
	}
	return s.v7Submit(w, c, segs[0], segs[1])
}

// v7AuthError is authError for v7, which takes the key from the body or
// the "key" header: either one being right is enough.
func (s *Server) v7AuthError(w http.ResponseWriter, c *call) bool {
	if c.bodyErr {
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "Invalid API Request"}, {"tip", tipLegacy}})
		return true
	}
	ok := func(k string) bool { return k != "" && (s.opts.Key == "" || k == s.opts.Key) }
	if !ok(str(c.body["key"])) && !ok(c.headerKey) {
		writePHP(w, http.StatusUnauthorized, object{{"status", "error"}, {"message", "Invalid Api Key"}, {"tip", tipLegacy}})
		return true
	}
	return false
}

func (s *Server) v7Submit(w http.ResponseWriter, c *call, family, op string) string {
	s.mu.Lock()
	s.stats.Submits++
	s.mu.Unlock()
	if s.v7AuthError(w, c) {
		return ""
	}
	// Refusals are HTTP 200 with status "error" and no id: no job, no
	// webhook.
	if s.opts.V7SubmitError {
		s.countSubmitError()
		writePHP(w, http.StatusOK, v7ProviderError)
		return "provider error (V7SubmitError)"
	}
	if msg := v7Validate(family, op, c.body); msg != nil {
		s.countSubmitError()
		writePHP(w, http.StatusOK, object{{"status", "error"}, {"message", msg}})
		return "refused: " + msg[0].k
	}
	model := str(c.body["model_id"])
	if model == v7ProviderErrorModel {
		s.countSubmitError()
		writePHP(w, http.StatusOK, v7ProviderError)
		return "provider error"
	}

	j := s.createJob(w, c, "7", family, op)
	if j == nil {
		return "rate limited"
	}
	if s.opts.Immediate {
		if j.failed {
			writePHP(w, http.StatusOK, v7Failed(j))
			return "id " + j.idText + ", failed"
		}
		writePHP(w, http.StatusOK, v7Success(j))
		return "id " + j.idText + ", immediate"
	}
	ans := object{
		{"status", "processing"},
		{"id", j.idValue},
		{"eta", seconds(j.eta)},
		{"message", msgEstimated},
	}
	if !v7NoFutureLinks[model] {
		ans = append(ans, field{"future_links", j.files})
	}
	ans = append(ans, field{"output", []string{}}, field{"meta", j.meta})
	writePHP(w, http.StatusOK, ans)
	return "id " + j.idText
}

// v7Fetch answers POST /api/v7/<family>/fetch/<id>. Only v7 jobs of that
// family are found there: a client must fetch where the job was made.
func (s *Server) v7Fetch(w http.ResponseWriter, c *call, family, id string) string {
	if note, failed := s.fetchFault(w); failed {
		return note
	}
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if s.v7AuthError(w, c) {
		return ""
	}
	if j == nil || !j.v7() || j.service != family {
		writePHP(w, http.StatusOK, object{
			{"status", "failed"}, {"id", id}, {"message", "Request not found"}, {"output", []string{}}, {"tip", tipNotFound},
		})
		return "unknown id"
	}
	now := time.Now()
	if !j.fetchedDone(now) {
		left := int64(math.Ceil(max(j.eta-now.Sub(j.createdAt), 0).Seconds()))
		writePHP(w, http.StatusOK, object{
			{"status", "processing"}, {"id", j.idValue}, {"eta", left}, {"message", "Request is still processing, " + msgTryLater}, {"output", []string{}},
		})
		return "id " + id + ", processing"
	}
	if j.failed {
		writePHP(w, http.StatusOK, v7Failed(j))
		return "id " + id + ", failed"
	}
	writePHP(w, http.StatusOK, v7Success(j))
	return "id " + id + ", success"
}

// v7Success is the answer of a finished v7 job (fetch, or an Immediate
// submit).
func v7Success(j *job) object {
	return object{
		{"status", "success"},
		{"generationTime", j.generationTime},
		{"id", j.idValue},
		{"output", j.files},
		{"meta", j.meta},
	}
}

// v7Failed is the answer of a failed v7 job.
func v7Failed(j *job) object {
	return object{{"status", "failed"}, {"id", j.idValue}, {"message", j.failMsg}, {"output", []string{}}}
}

// countSubmitError counts a submit refused for what it asked.
func (s *Server) countSubmitError() {
	s.mu.Lock()
	s.stats.SubmitErrors++
	s.mu.Unlock()
}
