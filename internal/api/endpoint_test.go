package api

import (
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestLookupRequiredRows(t *testing.T) {
	tests := []struct {
		name, submit, fetch string
		required            []string
	}{
		{"text2img", "/api/v6/images/text2img", "/api/v6/images/fetch/{id}", []string{"prompt"}},
		{"img2img", "/api/v6/images/img2img", "/api/v6/images/fetch/{id}", []string{"init_image"}},
		{"inpaint", "/api/v6/images/inpaint", "/api/v6/images/fetch/{id}", []string{"init_image", "mask_image"}},
		{"controlnet", "/api/v5/controlnet", "/api/v6/images/fetch/{id}", []string{"controlnet_model", "init_image"}},
		{"text2video", "/api/v6/video/text2video", "/api/v6/video/fetch/{id}", []string{"prompt"}},
		{"img2video_ultra", "/api/v6/video/img2video_ultra", "/api/v6/video/fetch/{id}", []string{"init_image", "prompt"}},
		{"text_to_speech", "/api/v6/voice/text_to_speech", "/api/v6/voice/fetch/{id}", []string{"prompt", "voice_id", "language"}},
		{"song_generator", "/api/v6/voice/song_generator", "/api/v6/voice/fetch/{id}", nil},
		{"text_to_3d", "/api/v6/3d/text_to_3d", "/api/v6/3d/fetch/{id}", []string{"prompt"}},
		{"image_to_3d", "/api/v6/3d/image_to_3d", "/api/v6/3d/fetch/{id}", []string{"init_image"}},
		{"removebg_mask", "/api/v6/image_editing/removebg_mask", "/api/v6/image_editing/fetch/{id}", []string{"image"}},
		{"super_resolution", "/api/v6/image_editing/super_resolution", "/api/v6/image_editing/fetch/{id}", []string{"init_image"}},
		{"outpaint", "/api/v6/image_editing/outpaint", "/api/v6/image_editing/fetch/{id}", nil},
		{"object_removal", "/api/v6/image_editing/object_removal", "/api/v6/image_editing/fetch/{id}", []string{"init_image", "mask_image"}},
	}
	for _, tt := range tests {
		ep, ok := Lookup(tt.name)
		if !ok {
			t.Errorf("Lookup(%q) missing", tt.name)
			continue
		}
		if ep.Name != tt.name || ep.SubmitPath != tt.submit || ep.FetchPath != tt.fetch || ep.Auth != AuthBody {
			t.Errorf("%s = %+v", tt.name, ep)
		}
		if len(ep.Required) != 0 || len(tt.required) != 0 {
			if !reflect.DeepEqual(ep.Required, tt.required) {
				t.Errorf("%s.Required = %v, want %v", tt.name, ep.Required, tt.required)
			}
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error(`Lookup("nope") succeeded`)
	}
}

// TestFetchPathsMatchPayloads checks each row's fetch path against the
// fetch_result the real processing responses give.
func TestFetchPathsMatchPayloads(t *testing.T) {
	rows := map[string]string{
		"text2img":          "text2img.response.processing.json",
		"inpaint":           "inpaint.response.processing.json",
		"realtime_text2img": "realtime.text2img.response.processing.json",
		"text2video":        "text2video.response.processing.json",
		"img2video":         "img2video.response.processing.json",
		"text2video_ultra":  "text2video_ultra.response.processing.json",
		"img2video_ultra":   "img2video_ultra.response.processing.json",
		"text_to_speech":    "text_to_speech.response.processing.json",
		"voice_to_voice":    "voice_to_voice.response.processing.json",
		"music_gen":         "music_gen.response.processing.json",
		"song_generator":    "song_generator.response.processing.json",
		"text_to_3d":        "text_to_3d.response.processing.json",
		"image_to_3d":       "image_to_3d.response.processing.json",
		"removebg_mask":     "image_editing.removebg_mask.response.processing.json",
		"super_resolution":  "image_editing.super_resolution.response.processing.json",
		"outpaint":          "image_editing.outpaint.response.processing.json",
		"speech_to_text":    "speech_to_text.response.processing.json",
	}
	for name, file := range rows {
		r := decodePayload(t, file)
		ep, _ := Lookup(name)
		if got := ep.FetchURL("https://modelslab.com", r.ID); got != r.FetchURL {
			t.Errorf("%s: FetchURL = %q, payload fetch_result = %q", name, got, r.FetchURL)
		}
	}
}

func TestCatalogue(t *testing.T) {
	all := Catalogue()
	if len(all) < 25 {
		t.Fatalf("only %d rows", len(all))
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool {
		if all[i].Kind != all[j].Kind {
			return all[i].Kind < all[j].Kind
		}
		return all[i].Name < all[j].Name
	}) {
		t.Error("Catalogue is not sorted by Kind, then Name")
	}
	seen := map[string]bool{}
	kinds := map[string]bool{"img": true, "edit": true, "video": true, "audio": true, "3d": true, "faceswap": true, "interior": true, "train": true, "workflow": true}
	for _, ep := range all {
		if seen[ep.Name] {
			t.Errorf("duplicate name %q", ep.Name)
		}
		seen[ep.Name] = true
		if !kinds[ep.Kind] || ep.Summary == "" {
			t.Errorf("%s: kind %q, summary %q", ep.Name, ep.Kind, ep.Summary)
		}
		if !strings.HasPrefix(ep.SubmitPath, "/api/") || !strings.HasPrefix(ep.FetchPath, "/api/") || strings.Count(ep.FetchPath, "{id}") != 1 {
			t.Errorf("%s: paths %q %q", ep.Name, ep.SubmitPath, ep.FetchPath)
		}
		for _, f := range ep.Required {
			if f == "" || f == "key" {
				t.Errorf("%s: bad required field %q", ep.Name, f)
			}
		}
		got, ok := Lookup(ep.Name)
		if !ok || !reflect.DeepEqual(got, ep) {
			t.Errorf("Lookup(%q) = %+v, %v; Catalogue has %+v", ep.Name, got, ok, ep)
		}
	}
	// Rows are copies: changing one changes nothing in the table.
	all[0].Name = "changed"
	ep, _ := Lookup("text2img")
	ep.Required[0] = "changed"
	if again, _ := Lookup("text2img"); again.Required[0] != "prompt" {
		t.Error("Lookup returned a shared Required slice")
	}
	if Catalogue()[0].Name == "changed" {
		t.Error("Catalogue returned shared rows")
	}
}

func TestEndpointURLs(t *testing.T) {
	ep, _ := Lookup("text2img")
	if got := ep.FetchURL("https://modelslab.com/", "134701497"); got != "https://modelslab.com/api/v6/images/fetch/134701497" {
		t.Errorf("FetchURL = %q", got)
	}
	if got := ep.FetchURL("http://127.0.0.1:9", "a/b c?d"); got != "http://127.0.0.1:9/api/v6/images/fetch/a%2Fb%20c%3Fd" {
		t.Errorf("FetchURL escaping = %q", got)
	}
	if got := ep.SubmitURL("https://modelslab.com/"); got != "https://modelslab.com/api/v6/images/text2img" {
		t.Errorf("SubmitURL = %q", got)
	}
}

func TestMissing(t *testing.T) {
	ep, _ := Lookup("inpaint")
	if got := ep.Missing(map[string]any{"init_image": "u", "mask_image": " "}); !reflect.DeepEqual(got, []string{"mask_image"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := ep.Missing(map[string]any{"init_image": nil}); !reflect.DeepEqual(got, []string{"init_image", "mask_image"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := ep.Missing(map[string]any{"init_image": "u", "mask_image": []string{"m"}}); got != nil {
		t.Errorf("Missing = %v", got)
	}
}

func TestAuthStyleString(t *testing.T) {
	if AuthBody.String() != "body" || AuthHeader.String() != "header" || AuthBoth.String() != "both" || AuthStyle(9).String() != "unknown" {
		t.Error("AuthStyle.String")
	}
}

// TestV7Rows: the 16 v7 submit paths, their three fetch families, the key
// in the body and the header, and model_id required (issue 15).
func TestV7Rows(t *testing.T) {
	want := map[string]string{
		"/api/v7/images/text-to-image":        "/api/v7/images/fetch/{id}",
		"/api/v7/images/image-to-image":       "/api/v7/images/fetch/{id}",
		"/api/v7/images/inpaint":              "/api/v7/images/fetch/{id}",
		"/api/v7/video-fusion/text-to-video":  "/api/v7/video-fusion/fetch/{id}",
		"/api/v7/video-fusion/image-to-video": "/api/v7/video-fusion/fetch/{id}",
		"/api/v7/video-fusion/video-to-video": "/api/v7/video-fusion/fetch/{id}",
		"/api/v7/video-fusion/lip-sync":       "/api/v7/video-fusion/fetch/{id}",
		"/api/v7/video-fusion/motion-control": "/api/v7/video-fusion/fetch/{id}",
		"/api/v7/voice/text-to-speech":        "/api/v7/voice/fetch/{id}",
		"/api/v7/voice/speech-to-text":        "/api/v7/voice/fetch/{id}",
		"/api/v7/voice/speech-to-speech":      "/api/v7/voice/fetch/{id}",
		"/api/v7/voice/sound-generation":      "/api/v7/voice/fetch/{id}",
		"/api/v7/voice/music-gen":             "/api/v7/voice/fetch/{id}",
		"/api/v7/voice/create-dubbing":        "/api/v7/voice/fetch/{id}",
		"/api/v7/voice/song-extender":         "/api/v7/voice/fetch/{id}",
		"/api/v7/voice/song-inpaint":          "/api/v7/voice/fetch/{id}",
	}
	got := map[string]bool{}
	for _, ep := range Catalogue() {
		if ep.Version() != "v7" {
			if ep.Auth == AuthBoth {
				t.Errorf("%s: a %s row with the v7 key style", ep.Name, ep.Version())
			}
			continue
		}
		got[ep.SubmitPath] = true
		if fetch, ok := want[ep.SubmitPath]; !ok || ep.FetchPath != fetch {
			t.Errorf("%s: %s fetches on %s, want %q", ep.Name, ep.SubmitPath, ep.FetchPath, fetch)
		}
		if ep.Auth != AuthBoth || len(ep.Required) == 0 || ep.Required[0] != "model_id" {
			t.Errorf("%s: auth %s, required %v; want both, model_id first", ep.Name, ep.Auth, ep.Required)
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("no row for %s", p)
		}
	}
	// The v6 rows the official SDKs call.
	for name, path := range map[string]string{
		"speech_to_text": "/api/v6/voice/speech_to_text", "sfx": "/api/v6/voice/sfx",
		"voice_cover": "/api/v6/voice/voice_cover", "lyrics_generator": "/api/v6/voice/lyrics_generator",
		"create_dubbing": "/api/v6/voice/create_dubbing", "watermark_remover": "/api/v6/video/watermark_remover",
		"single_face_swap": "/api/v6/deepfake/single_face_swap", "multiple_face_swap": "/api/v6/deepfake/multiple_face_swap",
		"single_video_swap": "/api/v6/deepfake/single_video_swap", "specific_video_swap": "/api/v6/deepfake/specific_video_swap",
		"interior": "/api/v6/interior/make", "room_decorator": "/api/v6/interior/room_decorator",
		"floor_planning": "/api/v6/interior/floor_planning", "scenario_changer": "/api/v6/interior/scenario",
		"exterior_restorer": "/api/v6/interior/exterior_restorer", "interior_object_removal": "/api/v6/interior/object_removal",
		"interior_mixer": "/api/v6/interior/interior_mixer",
	} {
		ep, ok := Lookup(name)
		if !ok || ep.SubmitPath != path || ep.Version() != "v6" || ep.Auth != AuthBody {
			t.Errorf("%s: %+v, want %s with the key in the body", name, ep, path)
		}
	}
	if ep, _ := Lookup("speech_to_text"); ep.FetchPath != "/api/v6/whisper/fetch/{id}" {
		t.Errorf("speech_to_text fetches on %s, want the whisper family", ep.FetchPath)
	}
	for path, v := range map[string]string{"/api/v6/images/text2img": "v6", "/api/v7/voice/sfx": "v7", "/api/v1/workflows/{workflow_id}/run": "v1", "/x": "", "/api/": "", "/api/x/y": ""} {
		if got := (Endpoint{SubmitPath: path}).Version(); got != v {
			t.Errorf("Version(%q) = %q, want %q", path, got, v)
		}
	}
}
