package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// getAPI GETs base+path with query q and decodes the answer.
func getAPI(t *testing.T, base, path string, q url.Values) answer {
	t.Helper()
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func keyQ(kv ...string) url.Values {
	q := url.Values{"key": {testKey}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// listIDs returns the model ids of a list answer, reading either envelope.
func listIDs(t *testing.T, a answer) []string {
	t.Helper()
	var items []any
	switch d := a.body["data"].(type) {
	case []any:
		items = d
	case map[string]any:
		items, _ = d["items"].([]any)
	}
	if items == nil {
		t.Fatalf("no items in %s", a.raw)
	}
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["model_id"].(string))
	}
	return ids
}

func total(t *testing.T, a answer) int {
	t.Helper()
	n, err := a.body["meta"].(map[string]any)["total"].(json.Number).Int64()
	if err != nil {
		t.Fatalf("total: %s", a.raw)
	}
	return int(n)
}

func TestModelList(t *testing.T) {
	s, ts := newSandbox(t, Options{})
	v7 := getAPI(t, ts.URL, "/api/v7/models", keyQ())
	wantKeys(t, "v7 list", v7.body, "data", "error", "meta")
	data, ok := v7.body["data"].(map[string]any)
	if v7.status != 200 || !ok || v7.body["error"] != nil {
		t.Fatalf("v7 list: %d %s", v7.status, v7.raw)
	}
	wantKeys(t, "v7 data", data, "items")
	wantKeys(t, "v7 meta", v7.body["meta"].(map[string]any), "request_id", "total")
	ids := listIDs(t, v7)
	if len(ids) != len(catalogue) || total(t, v7) != len(catalogue) || len(catalogue) < 25 {
		t.Errorf("v7 list: %d items, total %d, catalogue %d", len(ids), total(t, v7), len(catalogue))
	}
	item := data["items"].([]any)[0].(map[string]any)
	wantKeys(t, "item", item, "model_id", "model_name", "provider", "feature", "model_type", "model_subcategory", "description", "status", "api_endpoint", "tags")
	if item["status"] != "model_ready" || !strings.HasPrefix(item["api_endpoint"].(string), ts.URL+"/api/v") || len(strs(t, item["tags"])) == 0 {
		t.Errorf("item %v", item)
	}
	if !bytes.Contains(v7.raw, []byte(`:\/\/`)) {
		t.Errorf("URLs not PHP-escaped: %s", v7.raw[:200])
	}

	// v6: data is the array; 20 a page by default.
	v6 := getAPI(t, ts.URL, "/api/v6/model-search", keyQ())
	wantKeys(t, "v6 list", v6.body, "data", "error", "meta")
	if _, ok := v6.body["data"].([]any); !ok || v6.status != 200 {
		t.Fatalf("v6 list: %s", v6.raw)
	}
	if got := listIDs(t, v6); !reflect.DeepEqual(got, ids[:defaultPerPage]) || total(t, v6) != len(catalogue) {
		t.Errorf("v6 first page %v (total %d)", got, total(t, v6))
	}
	if got := listIDs(t, getAPI(t, ts.URL, "/api/v6/model-search", keyQ("per_page", "5", "page", "2"))); !reflect.DeepEqual(got, ids[5:10]) {
		t.Errorf("page 2 of 5: %v", got)
	}
	if got := listIDs(t, getAPI(t, ts.URL, "/api/v6/model-search", keyQ("per_page", "100"))); !reflect.DeepEqual(got, ids) {
		t.Errorf("per_page 100: %v", got)
	}
	if a := getAPI(t, ts.URL, "/api/v6/model-search", keyQ("page", "9")); len(listIDs(t, a)) != 0 || total(t, a) != len(catalogue) {
		t.Errorf("past the end: %s", a.raw)
	}
	for _, q := range []url.Values{keyQ("per_page", "0"), keyQ("per_page", "x"), keyQ("per_page", "101"), keyQ("page", "0")} {
		a := getAPI(t, ts.URL, "/api/v6/model-search", q)
		e, _ := a.body["error"].(map[string]any)
		if a.status != 422 || a.body["data"] != nil || e["code"] != "validation_error" || e["details"] == nil {
			t.Errorf("%v: %d %s", q, a.status, a.raw)
		}
	}

	// Catalogue sanity: unique ids, known features, every endpoint one the
	// sandbox takes.
	seen := map[string]bool{}
	for _, m := range catalogue {
		if seen[m.id] || !slices.Contains([]string{"imagen", "video_fusion", "audio_gen"}, m.feature) {
			t.Errorf("model %s: duplicate or feature %q", m.id, m.feature)
		}
		seen[m.id] = true
		if m.ep.version == "7" && v7Ops[m.ep.family][m.ep.op] == nil {
			t.Errorf("model %s: %s is not a v7 operation", m.id, m.ep.path())
		}
	}
	for _, id := range []string{"flux", "sdxl", "midjourney", "wan2.2", "ltx-2.3", "seedream-4", "seedream-4.5", "imagen-4", "nano-banana",
		"flux-kontext-pro", "kling-v2-1-i2v", "Hailuo-2.3-i2v", "seedance-t2v", "sora-2", "veo-3.1-fast", "gen4_aleph", "lipsync-2",
		"kling-motion-control", "eleven_multilingual_v2", "scribe_v1", "eleven_english_sts_v2", "eleven_sound_effect", "music_v1",
		"sonauto_song", "song-extender", "song-inpaint", "flux-2-pro", "flux-2-dev"} {
		if !seen[id] {
			t.Errorf("model %s missing", id)
		}
	}
	if st := s.Stats(); st.ModelLists != 9 || st.ModelDetails != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestModelFilters(t *testing.T) {
	_, ts := newSandbox(t, Options{})
	cases := []struct {
		q    url.Values
		want []string // nil: check with pred
		pred func(catModel) bool
	}{
		{keyQ("search", "flux"), []string{"flux", "flux-2-dev", "flux-2-pro", "flux-kontext-pro"}, nil},
		{keyQ("search", "FLUX"), []string{"flux", "flux-2-dev", "flux-2-pro", "flux-kontext-pro"}, nil},
		{keyQ("search", "Seedream 4"), []string{"seedream-4", "seedream-4.5"}, nil},
		{keyQ("search", "lyrics & melody"), []string{"song-inpaint"}, nil},
		{keyQ("search", "  text to video "), []string{"wan2.2", "ltx-2.3", "seedance-t2v", "sora-2", "veo-3.1-fast"}, nil},
		{keyQ("search", "no such model"), []string{}, nil},
		{keyQ("feature", "audio_gen"), nil, func(m catModel) bool { return m.feature == "audio_gen" }},
		{keyQ("feature", "VIDEO_FUSION"), nil, func(m catModel) bool { return m.feature == "video_fusion" }},
		{keyQ("provider", "google"), []string{"imagen-4", "nano-banana", "veo-3.1-fast"}, nil},
		{keyQ("provider", "ElevenLabs", "feature", "audio_gen", "search", "speech"), []string{"eleven_multilingual_v2", "scribe_v1", "eleven_english_sts_v2"}, nil},
		{keyQ("provider", "google", "feature", "imagen"), []string{"imagen-4", "nano-banana"}, nil},
		{keyQ("model_type", "image-to-video"), []string{"kling-v2-1-i2v", "Hailuo-2.3-i2v"}, nil},
		{keyQ("feature", "llmaster"), []string{}, nil},
	}
	for _, tc := range cases {
		want := tc.want
		if want == nil {
			want = []string{}
			for _, m := range catalogue {
				if tc.pred(m) {
					want = append(want, m.id)
				}
			}
			if len(want) < 2 {
				t.Fatalf("%v: too few models to test with", tc.q)
			}
		}
		for _, path := range []string{"/api/v7/models", "/api/v6/model-search"} {
			a := getAPI(t, ts.URL, path, tc.q)
			if got := listIDs(t, a); a.status != 200 || !reflect.DeepEqual(got, want) || total(t, a) != len(want) {
				t.Errorf("%s?%s: %d %v, want %v", path, tc.q.Encode(), a.status, got, want)
			}
		}
	}
	// The raw query, encoded by hand: %20, + and %26 are decoded.
	for _, raw := range []string{"search=Seedream%204", "search=Seedream+4"} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v7/models?key="+testKey+"&"+raw, nil)
		if got := listIDs(t, do(t, req)); !reflect.DeepEqual(got, []string{"seedream-4", "seedream-4.5"}) {
			t.Errorf("%s: %v", raw, got)
		}
	}
	// Escaped, "song & melody" matches nothing; unescaped, the & splits
	// the value and the search is "song ".
	if got := listIDs(t, getAPI(t, ts.URL, "/api/v6/model-search", keyQ("search", "song & melody"))); len(got) != 0 {
		t.Errorf("escaped &: %v", got)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v6/model-search?key="+testKey+"&search=song%20&%20melody", nil)
	if got := listIDs(t, do(t, req)); !reflect.DeepEqual(got, []string{"sonauto_song", "song-extender", "song-inpaint"}) {
		t.Errorf("unescaped &: %v", got)
	}
}

func TestModelDetail(t *testing.T) {
	s, ts := newSandbox(t, Options{Key: testKey})
	a := getAPI(t, ts.URL, "/api/v6/model-search/seedream-4", keyQ())
	wantKeys(t, "detail", a.body, "data", "error", "meta")
	d, _ := a.body["data"].(map[string]any)
	if a.status != 200 || d == nil || a.body["error"] != nil {
		t.Fatalf("detail: %d %s", a.status, a.raw)
	}
	wantKeys(t, "detail data", d, "model_id", "model_name", "provider", "feature", "model_type", "model_subcategory", "description", "status",
		"api_endpoint", "tags", "endpoint_configurations")
	if d["model_id"] != "seedream-4" || d["model_name"] != "Seedream 4.0" || d["provider"] != "byteplus" || d["feature"] != "imagen" ||
		d["api_endpoint"] != ts.URL+"/api/v7/images/text-to-image" {
		t.Errorf("detail %v", d)
	}
	ecs := d["endpoint_configurations"].([]any)
	ec := ecs[0].(map[string]any)
	params := ec["parameters"].(map[string]any)
	props := params["properties"].(map[string]any)
	ar := props["aspect_ratio"].(map[string]any)
	if len(ecs) != 1 || ec["name"] != "text-to-image" || ec["url"] != ts.URL+"/api/v7/images/text-to-image" || params["type"] != "object" ||
		!reflect.DeepEqual(strs(t, params["required"]), []string{"prompt", "model_id", "aspect_ratio"}) ||
		!reflect.DeepEqual(strs(t, ar["enum"]), []string{"1:1", "16:9", "9:16"}) || ar["default"] != "1:1" || ar["type"] != "string" {
		t.Errorf("endpoint configuration %v", ec)
	}
	for _, p := range []string{"model_id", "prompt", "webhook", "track_id"} {
		if props[p] == nil {
			t.Errorf("no %s property", p)
		}
	}
	sfx := getAPI(t, ts.URL, "/api/v6/model-search/eleven_sound_effect", keyQ())
	props = sfx.body["data"].(map[string]any)["endpoint_configurations"].([]any)[0].(map[string]any)["parameters"].(map[string]any)["properties"].(map[string]any)
	if props["time in seconds"] == nil || props["duration"] != nil {
		t.Errorf("sound effect properties %v", props)
	}
	// Case matters: model ids are case-sensitive.
	for _, id := range []string{"nope", "hailuo-2.3-i2v", "filters"} {
		a := getAPI(t, ts.URL, "/api/v6/model-search/"+id, keyQ())
		wantKeys(t, id, a.body, "data", "error", "meta")
		if e, _ := a.body["error"].(map[string]any); a.status != 404 || a.body["data"] != nil || e["code"] != "not_found" || e["message"] != "Model not found" {
			t.Errorf("%s: %d %s", id, a.status, a.raw)
		}
	}
	if a := getAPI(t, ts.URL, "/api/v6/model-search/Hailuo-2.3-i2v", keyQ()); a.status != 200 {
		t.Errorf("Hailuo-2.3-i2v: %d", a.status)
	}
	if st := s.Stats(); st.ModelDetails != 6 || st.ModelLists != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Every catalogue model's detail describes a body the sandbox takes: its
// required parameters, filled in from the schema, make a job.
func TestModelDetailsAreSubmittable(t *testing.T) {
	_, ts := newSandbox(t, Options{Delay: time.Hour})
	for _, m := range catalogue {
		a := getAPI(t, ts.URL, "/api/v6/model-search/"+m.id, keyQ())
		ec := a.body["data"].(map[string]any)["endpoint_configurations"].([]any)[0].(map[string]any)
		params := ec["parameters"].(map[string]any)
		props := params["properties"].(map[string]any)
		body := map[string]any{"key": testKey}
		for _, r := range strs(t, params["required"]) {
			p, ok := props[r].(map[string]any)
			if !ok {
				t.Errorf("%s: required %s has no property", m.id, r)
				continue
			}
			switch {
			case p["default"] != nil:
				body[r] = p["default"]
			case p["format"] == "uri":
				body[r] = "http://x/input"
			default:
				body[r] = "some text"
			}
		}
		got := post(t, ec["url"].(string), body, nil)
		if got.body["status"] != "processing" {
			t.Errorf("%s: %v -> %s", m.id, body, got.raw)
		}
	}
}

func TestModelAuth(t *testing.T) {
	s, ts := newSandbox(t, Options{Key: "good"})
	for _, path := range []string{"/api/v7/models", "/api/v6/model-search", "/api/v6/model-search/flux"} {
		for _, q := range []url.Values{{"key": {"bad"}}, {"key": {""}}, {}, {"search": {"flux"}}} {
			a := getAPI(t, ts.URL, path, q)
			wantKeys(t, path, a.body, "data", "error", "meta")
			e, _ := a.body["error"].(map[string]any)
			meta, _ := a.body["meta"].(map[string]any)
			if a.status != 401 || a.body["data"] != nil || e["code"] != "unauthenticated" || e["message"] != "Invalid API key" || meta["request_id"] == "" {
				t.Errorf("%s?%s: %d %s", path, q.Encode(), a.status, a.raw)
			}
		}
		// The key goes in the query, not a header.
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		req.Header.Set("key", "good")
		if a := do(t, req); a.status != 401 {
			t.Errorf("%s with a header key: %d", path, a.status)
		}
		if a := getAPI(t, ts.URL, path, url.Values{"key": {"good"}}); a.status != 200 {
			t.Errorf("%s good key: %d %s", path, a.status, a.raw)
		}
		// Lists are GETs.
		if a := post(t, ts.URL+path+"?key=good", nil, nil); a.status != 405 {
			t.Errorf("POST %s: %d", path, a.status)
		}
	}
	// Without Options.Key any non-empty key works; an empty one does not.
	_, open := newSandbox(t, Options{})
	if a := getAPI(t, open.URL, "/api/v7/models", url.Values{"key": {"anything"}}); a.status != 200 {
		t.Errorf("any key: %d", a.status)
	}
	if a := getAPI(t, open.URL, "/api/v7/models", url.Values{"key": {""}}); a.status != 401 {
		t.Errorf("empty key: %d", a.status)
	}
	// The request log has the query, key redacted; request ids differ.
	var ids []string
	for _, r := range s.Requests() {
		if strings.Contains(strings.Join(r.Query["key"], ""), "good") {
			t.Errorf("key recorded: %+v", r)
		}
	}
	last := s.Requests()[len(s.Requests())-1]
	if last.Method != "POST" || last.Query["key"][0] != redacted {
		t.Errorf("last request %+v", last)
	}
	for range 2 {
		a := getAPI(t, ts.URL, "/api/v7/models", url.Values{"key": {"good"}, "search": {"a b&c"}})
		ids = append(ids, a.body["meta"].(map[string]any)["request_id"].(string))
	}
	if ids[0] == ids[1] || ids[0] == "" {
		t.Errorf("request ids %v", ids)
	}
	if r := s.Requests()[len(s.Requests())-1]; !reflect.DeepEqual(r.Query, map[string][]string{"key": {redacted}, "search": {"a b&c"}}) {
		t.Errorf("recorded query %v", r.Query)
	}
	if st := s.Stats(); st.ModelLists != 2*7+2 || st.ModelDetails != 7 {
		t.Errorf("stats %+v", st)
	}
}
