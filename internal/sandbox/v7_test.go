package sandbox

import (
	"bytes"
	"encoding/json"
	"image"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkOutput tells whether b is a file of type ext as the sandbox makes
// them; id is the job's.
func checkOutput(t *testing.T, ext, id string, b []byte) bool {
	t.Helper()
	switch ext {
	case "png":
		_, f, err := image.Decode(bytes.NewReader(b))
		return err == nil && f == "png"
	case "mp4":
		return len(b) > 12 && string(b[4:8]) == "ftyp"
	case "mp3":
		return len(b) > 2 && (string(b[:3]) == "ID3" || b[0] == 0xFF && b[1]&0xE0 == 0xE0)
	case "wav":
		return len(b) > 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE"
	case "txt":
		return strings.Contains(string(b), "job "+id)
	}
	t.Fatalf("no check for .%s", ext)
	return false
}

type v7Case struct {
	path    string
	body    map[string]any
	ext     string
	noLinks bool // the model answers without future_links
}

var v7Cases = []v7Case{
	{"/api/v7/images/text-to-image", map[string]any{"model_id": "seedream-4", "prompt": "a red fox", "aspect_ratio": "1:1"}, "png", false},
	{"/api/v7/images/image-to-image", map[string]any{"model_id": "flux-kontext-pro", "init_image": "http://x/a.png", "prompt": "make it night"}, "png", false},
	{"/api/v7/images/image-to-image", map[string]any{"model_id": "nano-banana", "init_image": []any{"http://x/a.png", "http://x/b.png"}, "prompt": "blend"}, "png", false},
	{"/api/v7/images/inpaint", map[string]any{"model_id": "flux-fill", "init_image": "http://x/a.png", "mask_image": "http://x/m.png", "prompt": "a hat"}, "png", false},
	{"/api/v7/video-fusion/text-to-video", map[string]any{"model_id": "veo-3.1-fast", "prompt": "a horse", "duration": "8", "generate_audio": true}, "mp4", true},
	{"/api/v7/video-fusion/text-to-video", map[string]any{"model_id": "sora-2", "prompt": "a horse"}, "mp4", true},
	{"/api/v7/video-fusion/text-to-video", map[string]any{"model_id": "seedance-t2v", "prompt": "a horse"}, "mp4", false},
	{"/api/v7/video-fusion/image-to-video", map[string]any{"model_id": "Hailuo-2.3-i2v", "init_image": "http://x/a.jpg", "prompt": "fog", "duration": "6"}, "mp4", false},
	{"/api/v7/video-fusion/video-to-video", map[string]any{"model_id": "gen4_aleph", "init_video": "http://x/a.mp4", "prompt": "make it winter", "aspect_ratio": "1280:720"}, "mp4", false},
	{"/api/v7/video-fusion/lip-sync", map[string]any{"model_id": "lipsync-2", "init_video": "http://x/a.mp4", "init_audio": "http://x/a.mp3"}, "mp4", true},
	{"/api/v7/video-fusion/motion-control", map[string]any{"model_id": "kling-motion-control", "init_image": "http://x/a.jpg", "init_video": "http://x/a.mov",
		"character_orientation": "image", "mode": "std", "prompt": "dance"}, "mp4", false},
	{"/api/v7/voice/text-to-speech", map[string]any{"model_id": "eleven_multilingual_v2", "prompt": "hello", "voice_id": "alice"}, "mp3", false},
	{"/api/v7/voice/text-to-speech", map[string]any{"model_id": "eleven_multilingual_v2", "prompt": "hello", "output_format": "wav"}, "wav", false},
	{"/api/v7/voice/speech-to-text", map[string]any{"model_id": "scribe_v1", "init_audio": "http://x/a.wav"}, "txt", true},
	{"/api/v7/voice/speech-to-speech", map[string]any{"model_id": "eleven_english_sts_v2", "init_audio": "http://x/a.wav", "voice_id": "bob"}, "mp3", false},
	{"/api/v7/voice/sound-generation", map[string]any{"model_id": "eleven_sound_effect", "prompt": "a door creaks", "time in seconds": 5}, "mp3", false},
	{"/api/v7/voice/music-gen", map[string]any{"model_id": "sonauto_song", "prompt": "afrobeat"}, "mp3", false},
	{"/api/v7/voice/music-gen", map[string]any{"model_id": "music_v1", "prompt": "lofi", "output_format": "wav"}, "wav", false},
	{"/api/v7/voice/create-dubbing", map[string]any{"model_id": "eleven_dubbing", "init_audio": "http://x/a.mp3", "target_language": "fr"}, "mp3", false},
	{"/api/v7/voice/create-dubbing", map[string]any{"model_id": "eleven_dubbing", "init_video": "http://x/a.mp4", "target_language": "fr"}, "mp4", false},
	{"/api/v7/voice/song-extender", map[string]any{"model_id": "song-extender", "init_audio": "http://x/a.ogg", "prompt": "another verse", "extend_duration": "45.0", "side": "right"}, "mp3", false},
	{"/api/v7/voice/song-inpaint", map[string]any{"model_id": "song-inpaint", "init_audio": "http://x/a.ogg", "prompt": "a new bridge"}, "mp3", false},
}

// v7Family is the family of a v7 path: /api/v7/<family>/<op>.
func v7Family(path string) string { return strings.Split(path, "/")[3] }

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestV7Paths(t *testing.T) {
	s, ts := newSandbox(t, Options{Delay: 20 * time.Millisecond})
	for i, tc := range v7Cases {
		body, header := clone(tc.body), map[string]string(nil)
		if i%2 == 1 {
			header = map[string]string{"key": testKey} // the key in the header only
		} else {
			body["key"] = testKey
		}
		a := post(t, ts.URL+tc.path, body, header)
		if a.status != 200 || a.body["status"] != "processing" {
			t.Errorf("%s: %d %s", tc.path, a.status, a.raw)
			continue
		}
		want := []string{"status", "id", "eta", "message", "future_links", "output", "meta"}
		if tc.noLinks {
			want = want[:4:4]
			want = append(want, "output", "meta")
		}
		wantKeys(t, tc.path, a.body, want...)
		id, ok := a.body["id"].(string)
		if !ok || id == "" {
			t.Errorf("%s: id %#v, want a JSON string", tc.path, a.body["id"])
			continue
		}
		if !bytes.Contains(a.raw, []byte(`"id":"`+id+`"`)) {
			t.Errorf("%s: id not written as a string: %s", tc.path, a.raw)
		}
		if a.body["eta"] == nil || a.body["message"] != msgEstimated || len(strs(t, a.body["output"])) != 0 {
			t.Errorf("%s: %s", tc.path, a.raw)
		}
		meta := a.body["meta"].(map[string]any)
		if meta["model_id"] != tc.body["model_id"] || meta["key"] != nil {
			t.Errorf("%s: meta %v", tc.path, meta)
		}
		family := v7Family(tc.path)
		fetch := ts.URL + "/api/v7/" + family + "/fetch/" + id
		var f answer
		waitFor(t, tc.path, func() bool {
			f = post(t, fetch, map[string]any{"key": testKey}, nil)
			return f.body["status"] != "processing"
		})
		wantKeys(t, tc.path+" fetch", f.body, "status", "generationTime", "id", "output", "meta")
		if f.body["status"] != "success" || f.body["id"] != id {
			t.Errorf("%s: fetch %s", tc.path, f.raw)
			continue
		}
		out := strs(t, f.body["output"])
		if !tc.noLinks && !reflect.DeepEqual(out, strs(t, a.body["future_links"])) {
			t.Errorf("%s: output %v, future links %v", tc.path, out, a.body["future_links"])
		}
		for _, u := range out {
			if !strings.HasSuffix(u, "."+tc.ext) {
				t.Errorf("%s: output %s, want .%s", tc.path, u, tc.ext)
				continue
			}
			code, _, b := get(t, u)
			if code != 200 || !checkOutput(t, tc.ext, id, b) {
				t.Errorf("%s: %s: %d, %d bytes %q", tc.path, u, code, len(b), b[:min(len(b), 16)])
			}
		}
		// Fetched anywhere else, the job is unknown: the family is part of
		// its address, and v7 jobs are not on v6.
		for _, other := range []string{"/api/v7/images/fetch/", "/api/v7/video-fusion/fetch/", "/api/v7/voice/fetch/", "/api/v6/images/fetch/", "/api/v6/" + family + "/fetch/"} {
			if other == "/api/v7/"+family+"/fetch/" {
				continue
			}
			g := post(t, ts.URL+other+id, map[string]any{"key": testKey}, nil)
			if g.body["status"] != "failed" || g.body["message"] != "Request not found" {
				t.Errorf("%s: fetch on %s: %s", tc.path, other, g.raw)
			}
		}
	}
	// Every body was recorded as sent, field by field, the key redacted
	// (or noted as a header).
	var seen int
	for _, r := range s.Requests() {
		if strings.Contains(r.Path, "/fetch/") {
			continue
		}
		if r.HeaderKey != (r.Body["key"] == nil) || !r.HeaderKey && r.Body["key"] != redacted {
			t.Errorf("%s: key recorded %v, header %v", r.Path, r.Body["key"], r.HeaderKey)
		}
		switch r.Path {
		case "/api/v7/voice/sound-generation":
			seen++
			if r.Body["time in seconds"] != float64(5) {
				t.Errorf("sound-generation recorded %v", r.Body)
			}
		case "/api/v7/voice/song-extender":
			seen++
			if r.Body["extend_duration"] != "45.0" || r.Body["side"] != "right" {
				t.Errorf("song-extender recorded %+v", r)
			}
		}
	}
	if seen != 2 {
		t.Errorf("%d of the 2 bodies recorded", seen)
	}
}

func TestV7Transcript(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: -1})
	a := post(t, ts.URL+"/api/v7/voice/speech-to-text", map[string]any{"key": testKey, "model_id": "scribe_v1", "init_audio": "http://x/a.wav"}, nil)
	id := a.body["id"].(string)
	f := post(t, ts.URL+"/api/v7/voice/fetch/"+id, map[string]any{"key": testKey}, nil)
	out := strs(t, f.body["output"])
	if len(out) != 1 {
		t.Fatalf("fetch: %s", f.raw)
	}
	code, h, b := get(t, out[0])
	want := "Sandbox transcript of job " + id + ": the quick brown fox jumps over the lazy dog.\n"
	if code != 200 || string(b) != want || h.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("transcript: %d %s %q", code, h.Get("Content-Type"), b)
	}
}

func TestV7Key(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour, Key: "good"})
	body := map[string]any{"model_id": "seedream-4", "prompt": "x"}
	for _, tc := range []struct {
		what   string
		body   string // the body's key; "-" for none
		header string // the header's key; "" for none
		want   int
	}{
		{"body", "good", "", 200},
		{"header", "-", "good", 200},
		{"both", "good", "good", 200},
		{"wrong body, right header", "bad", "good", 200},
		{"right body, wrong header", "good", "bad", 200},
		{"wrong", "bad", "", 401},
		{"wrong header", "-", "bad", 401},
		{"none", "-", "", 401},
		{"empty", "", "", 401},
	} {
		b := clone(body)
		if tc.body != "-" {
			b["key"] = tc.body
		}
		var h map[string]string
		if tc.header != "" {
			h = map[string]string{"key": tc.header}
		}
		a := post(t, ts.URL+"/api/v7/images/text-to-image", b, h)
		if a.status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.what, a.status, a.raw, tc.want)
		}
		if tc.want == 401 && (a.body["message"] != "Invalid Api Key" || a.body["id"] != nil) {
			t.Errorf("%s: %s", tc.what, a.raw)
		}
	}
	if a := post(t, ts.URL+"/api/v7/images/fetch/134701497", nil, map[string]string{"key": "bad"}); a.status != 401 {
		t.Errorf("fetch with a wrong header key: %d", a.status)
	}
	if a := post(t, ts.URL+"/api/v7/images/fetch/134701497", nil, map[string]string{"key": "good"}); a.status != 200 || a.body["status"] != "processing" || a.body["id"] != "134701497" {
		t.Errorf("fetch with the header key: %d %s", a.status, a.raw)
	}
}

func TestV7SubmitErrors(t *testing.T) {
	missing := func(fields ...string) map[string]any {
		m := map[string]any{}
		for _, f := range fields {
			m[f] = []any{"The " + strings.ReplaceAll(f, "_", " ") + " field is required."}
		}
		return m
	}
	cases := []struct {
		path string
		body map[string]any
		want map[string]any // the message object
	}{
		{"/api/v7/images/text-to-image", map[string]any{"prompt": "  "}, missing("model_id", "prompt")},
		{"/api/v7/images/text-to-image", map[string]any{"prompt": "x"}, missing("model_id")},
		{"/api/v7/images/text-to-image", map[string]any{"model_id": "", "prompt": "x"}, missing("model_id")},
		{"/api/v7/images/image-to-image", map[string]any{"model_id": "nano-banana", "prompt": "x"}, missing("init_image")},
		{"/api/v7/images/image-to-image", map[string]any{"model_id": "nano-banana", "prompt": "x", "init_image": []any{}}, missing("init_image")},
		{"/api/v7/images/inpaint", map[string]any{"model_id": "m"}, missing("init_image", "mask_image", "prompt")},
		{"/api/v7/video-fusion/text-to-video", map[string]any{"model_id": "sora-2"}, missing("prompt")},
		{"/api/v7/video-fusion/image-to-video", map[string]any{"model_id": "kling-v2-1-i2v", "prompt": "x"}, missing("init_image")},
		{"/api/v7/video-fusion/video-to-video", map[string]any{"model_id": "gen4_aleph", "prompt": "x"}, missing("init_video")},
		{"/api/v7/video-fusion/lip-sync", map[string]any{"model_id": "lipsync-2"}, missing("init_video", "init_audio")},
		{"/api/v7/video-fusion/lip-sync", map[string]any{"model_id": "lipsync-2", "init_video": "http://x/a.mp4", "init_audio": nil}, missing("init_audio")},
		{"/api/v7/video-fusion/motion-control", map[string]any{"model_id": "kling-motion-control", "prompt": "x"},
			missing("init_image", "init_video", "character_orientation")},
		{"/api/v7/video-fusion/motion-control", map[string]any{"model_id": "kling-motion-control", "init_image": "i", "init_video": "v", "character_orientation": "sideways", "mode": "turbo"},
			map[string]any{"character_orientation": []any{"The selected character orientation is invalid."}, "mode": []any{"The selected mode is invalid."}}},
		{"/api/v7/voice/text-to-speech", map[string]any{"model_id": "eleven_multilingual_v2", "text": "hello"}, missing("prompt")},
		{"/api/v7/voice/speech-to-text", map[string]any{"model_id": "scribe_v1"}, missing("init_audio")},
		{"/api/v7/voice/speech-to-speech", map[string]any{}, missing("model_id", "init_audio", "voice_id")},
		{"/api/v7/voice/sound-generation", map[string]any{"model_id": "eleven_sound_effect"}, missing("prompt")},
		{"/api/v7/voice/sound-generation", map[string]any{"model_id": "eleven_sound_effect", "prompt": "x", "time in seconds": 30},
			map[string]any{"time in seconds": []any{"The time in seconds field must be a number between 1 and 22."}}},
		{"/api/v7/voice/music-gen", map[string]any{"model_id": "music_v1"}, missing("prompt")},
		{"/api/v7/voice/create-dubbing", map[string]any{"model_id": "d"},
			map[string]any{"init_audio": []any{"The init audio field is required when init video is not present."}, "target_language": []any{"The target language field is required."}}},
		{"/api/v7/voice/song-extender", map[string]any{"model_id": "song-extender"}, missing("init_audio")},
		{"/api/v7/voice/song-extender", map[string]any{"model_id": "song-extender", "init_audio": "a", "extend_duration": 45.0, "side": "up"},
			map[string]any{"side": []any{"The selected side is invalid."}, "extend_duration": []any{`The extend duration field must be a string of seconds between 0 and 85, like "45.0".`}}},
		{"/api/v7/voice/song-extender", map[string]any{"model_id": "song-extender", "init_audio": "a", "extend_duration": "90.0"},
			map[string]any{"extend_duration": []any{`The extend duration field must be a string of seconds between 0 and 85, like "45.0".`}}},
		{"/api/v7/voice/song-inpaint", map[string]any{"model_id": "song-inpaint"}, missing("init_audio")},
	}
	rs, ch := receiver(t)
	s, ts := newSandbox(t, Options{Delay: time.Millisecond})
	for _, tc := range cases {
		b := clone(tc.body)
		b["key"] = testKey
		b["webhook"] = rs.URL
		a := post(t, ts.URL+tc.path, b, nil)
		wantKeys(t, tc.path, a.body, "status", "message")
		msg, _ := a.body["message"].(map[string]any)
		if a.status != 200 || a.body["status"] != "error" || !reflect.DeepEqual(msg, tc.want) {
			t.Errorf("%s %v: %d %s, want message %v", tc.path, tc.body, a.status, a.raw, tc.want)
		}
	}

	provider := map[string]any{"status": "error", "code": "provider_error", "message": "The provider refused the request."}
	a := post(t, ts.URL+"/api/v7/video-fusion/text-to-video", map[string]any{"key": testKey, "model_id": "provider-error", "prompt": "x", "webhook": rs.URL}, nil)
	if a.status != 200 || !reflect.DeepEqual(a.body, provider) {
		t.Errorf("provider-error: %d %s", a.status, a.raw)
	}
	// A missing field is found before the provider is asked.
	if a := post(t, ts.URL+"/api/v7/video-fusion/text-to-video", map[string]any{"key": testKey, "model_id": "provider-error"}, nil); a.body["code"] != nil {
		t.Errorf("provider-error without a prompt: %s", a.raw)
	}

	// Nothing was created: no job, no webhook armed.
	st := s.Stats()
	if st.Jobs != 0 || st.SubmitErrors != len(cases)+2 || st.Submits != len(cases)+2 {
		t.Errorf("stats %+v", st)
	}
	s.mu.Lock()
	if len(s.jobs) != 0 || len(s.timers) != 0 {
		t.Errorf("%d jobs, %d timers", len(s.jobs), len(s.timers))
	}
	s.mu.Unlock()

	// V7SubmitError refuses every v7 submit, even a perfect one; v6 is
	// untouched and a bad key is still a bad key.
	s2, ts2 := newSandbox(t, Options{Delay: time.Millisecond, V7SubmitError: true, Key: testKey})
	for _, tc := range v7Cases {
		b := clone(tc.body)
		b["key"] = testKey
		b["webhook"] = rs.URL
		if a := post(t, ts2.URL+tc.path, b, nil); a.status != 200 || !reflect.DeepEqual(a.body, provider) {
			t.Errorf("V7SubmitError %s: %d %s", tc.path, a.status, a.raw)
		}
	}
	if a := post(t, ts2.URL+"/api/v7/images/text-to-image", map[string]any{"key": "bad"}, nil); a.status != 401 {
		t.Errorf("V7SubmitError with a bad key: %d %s", a.status, a.raw)
	}
	if a := post(t, ts2.URL+"/api/v6/images/text2img", text2img(map[string]any{"webhook": rs.URL}), nil); a.body["status"] != "processing" {
		t.Errorf("V7SubmitError on v6: %s", a.raw)
	}
	if st := s2.Stats(); st.Jobs != 1 || st.SubmitErrors != len(v7Cases) {
		t.Errorf("V7SubmitError stats %+v", st)
	}
	// The v6 job's webhook is the only one that comes.
	h := recv(t, ch)
	if _, isNum := h.body["id"].(json.Number); !isNum {
		t.Errorf("webhook %s", h.raw)
	}
	select {
	case h := <-ch:
		t.Errorf("a refused submit sent a webhook: %s", h.raw)
	default:
	}
}

func TestV7ProcessingFetch(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour, ETA: 30 * time.Second})
	a := post(t, ts.URL+"/api/v7/video-fusion/image-to-video", map[string]any{"key": testKey, "model_id": "kling-v2-1-i2v", "init_image": "http://x/a.jpg"}, nil)
	if a.body["eta"] != json.Number("30") {
		t.Errorf("eta: %s", a.raw)
	}
	id := a.body["id"].(string)
	f := post(t, ts.URL+"/api/v7/video-fusion/fetch/"+id, map[string]any{"key": testKey}, nil)
	wantKeys(t, "processing fetch", f.body, "status", "id", "eta", "message", "output")
	if f.body["status"] != "processing" || f.body["id"] != id || len(strs(t, f.body["output"])) != 0 {
		t.Errorf("processing fetch: %s", f.raw)
	}
	if n, err := f.body["eta"].(json.Number).Int64(); err != nil || n < 1 || n > 30 {
		t.Errorf("eta left %v", f.body["eta"])
	}
	// The future links answer 404 until the job is done.
	code, _, _ := get(t, strs(t, a.body["future_links"])[0])
	if code != 404 {
		t.Errorf("future link before done: %d", code)
	}
}

func TestV7Immediate(t *testing.T) {
	_, ts := newSandbox(t, Options{Immediate: true})
	a := post(t, ts.URL+"/api/v7/images/text-to-image", map[string]any{"key": testKey, "model_id": "imagen-4", "prompt": "x", "samples": "2"}, nil)
	wantKeys(t, "immediate", a.body, "status", "generationTime", "id", "output", "meta")
	if a.body["status"] != "success" || a.body["id"] != "134701497" || len(strs(t, a.body["output"])) != 2 {
		t.Errorf("immediate: %s", a.raw)
	}
	_, tf := newSandbox(t, Options{Immediate: true, Fail: true, FailMessage: "no"})
	a = post(t, tf.URL+"/api/v7/images/text-to-image", map[string]any{"key": testKey, "model_id": "imagen-4", "prompt": "x"}, nil)
	wantKeys(t, "immediate failed", a.body, "status", "id", "message", "output")
	if a.body["status"] != "failed" || a.body["id"] != "134701497" || a.body["message"] != "no" {
		t.Errorf("immediate failed: %s", a.raw)
	}
}

func TestV7Webhook(t *testing.T) {
	rs, ch := receiver(t)
	_, ts := newSandbox(t, Options{Delay: 10 * time.Millisecond})
	a := post(t, ts.URL+"/api/v7/voice/music-gen", map[string]any{"key": testKey, "model_id": "sonauto_song", "prompt": "x", "webhook": rs.URL, "track_id": 7}, nil)
	h := recv(t, ch)
	wantKeys(t, "webhook", h.body, "status", "id", "output", "generationTime", "track_id", "meta")
	if h.body["status"] != "success" || h.body["id"] != a.body["id"] || h.body["track_id"] != json.Number("7") ||
		!reflect.DeepEqual(strs(t, h.body["output"]), strs(t, a.body["future_links"])) {
		t.Errorf("webhook %s\nsubmit %s", h.raw, a.raw)
	}
	if !bytes.Contains(h.raw, []byte(`"id":"134701497"`)) || !bytes.Contains(h.raw, []byte(`.mp3"`)) {
		t.Errorf("webhook %s", h.raw)
	}
	// No future links announced: the webhook still lists the outputs.
	post(t, ts.URL+"/api/v7/video-fusion/text-to-video", map[string]any{"key": testKey, "model_id": "sora-2", "prompt": "x", "webhook": rs.URL}, nil)
	h = recv(t, ch)
	if out := strs(t, h.body["output"]); h.body["id"] != "134701498" || len(out) != 1 || !strings.HasSuffix(out[0], "/generations/134701498-0.mp4") {
		t.Errorf("sora-2 webhook %s", h.raw)
	}

	_, tf := newSandbox(t, Options{Delay: 10 * time.Millisecond, Fail: true})
	post(t, tf.URL+"/api/v7/images/text-to-image", map[string]any{"key": testKey, "model_id": "seedream-4", "prompt": "x", "webhook": rs.URL}, nil)
	h = recv(t, ch)
	if h.body["status"] != "failed" || h.body["id"] != "134701497" || h.body["message"] != "Failed, Try Again" {
		t.Errorf("failed webhook %s", h.raw)
	}
}

func TestV7Routes(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour})
	for _, p := range []string{"/api/v7/images/text2img", "/api/v7/llm/chat/completions", "/api/v7/images/fetch", "/api/v7/images/fetch/1/x",
		"/api/v7/foo/text-to-image", "/api/v7/models/x", "/api/v7/images", "/api/v7/video/text-to-video", "/api/v7/voice/text_to_speech", "/api/v7/images/text-to-image/x"} {
		a := post(t, ts.URL+p, map[string]any{"key": testKey, "model_id": "m", "prompt": "x"}, nil)
		if a.status != 404 || a.body["message"] != "Not found" {
			t.Errorf("POST %s: %d %s", p, a.status, a.raw)
		}
	}
	for _, p := range []string{"/api/v7/images/text-to-image", "/api/v7/voice/fetch/1"} {
		if code, h, _ := get(t, ts.URL+p); code != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	// A trailing slash is tolerated, as on v6.
	if a := post(t, ts.URL+"/api/v7/images/text-to-image/", map[string]any{"key": testKey, "model_id": "m", "prompt": "x"}, nil); a.body["status"] != "processing" {
		t.Errorf("trailing slash: %s", a.raw)
	}
	// Rate limits apply to v7 too.
	_, tr := newSandbox(t, Options{RateLimit: 1})
	if a := post(t, tr.URL+"/api/v7/images/text-to-image", map[string]any{"key": testKey, "model_id": "m", "prompt": "x"}, nil); a.status != 429 {
		t.Errorf("rate limit: %d %s", a.status, a.raw)
	}
}

// recv waits up to 5 s for a webhook.
func recv(t *testing.T, ch chan hook) hook {
	t.Helper()
	select {
	case h := <-ch:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5 s")
		return hook{}
	}
}
