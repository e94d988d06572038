package cmd

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/models"
	"github.com/mlabcli/mlab/internal/output"
)

// routeFactory is a Factory whose config and model cache live in temp
// directories, with --debug on (its stderr in errOut).
func routeFactory(t *testing.T, errOut *bytes.Buffer) (*Factory, string) {
	t.Helper()
	ios, _, _, _ := output.Test()
	ios.ErrOut = errOut
	cfgDir, cacheDir := t.TempDir(), t.TempDir()
	f := NewFactory(ios, BuildInfo{Version: "test"}, func(k string) string {
		switch k {
		case "MLAB_CONFIG_DIR":
			return cfgDir
		case models.EnvCacheDir:
			return cacheDir
		}
		return ""
	})
	f.debug = true
	return f, cacheDir
}

// routed parses args for spec and returns the endpoint and body it would
// submit (nothing is sent).
func routed(t *testing.T, f *Factory, spec *jobSpec, args ...string) (string, map[string]any, error) {
	t.Helper()
	var got *JobCmdOptions
	cmd := newJobCmd(f, spec, func(_ context.Context, o *JobCmdOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		return "", nil, err
	}
	ep, body, err := got.request()
	if err != nil {
		return "", nil, err
	}
	if _, err := prepareBody(ep, body); err != nil {
		return ep.Name, body, err
	}
	return ep.Name, body, nil
}

// TestRouteByModel: the model picks v6 or v7 without the user knowing the
// difference; --api forces it; flag defaults are v6 values and stay home
// on v7 (issue 15).
func TestRouteByModel(t *testing.T) {
	cases := []struct {
		name     string
		spec     *jobSpec
		args     []string
		endpoint string
		body     map[string]any // exact body
		debug    string         // in the --debug route line
		usage    bool           // a usage error
	}{
		{name: "flux stays on v6", spec: imgSpec, args: []string{"x", "--model", "flux"}, endpoint: "text2img",
			body: map[string]any{"prompt": "x", "model_id": "flux"}, debug: "model flux is a v6 model (built-in table)"},
		{name: "the default model is v6", spec: imgSpec, args: []string{"x"}, endpoint: "text2img",
			body: map[string]any{"prompt": "x", "model_id": "flux"}, debug: "v6 model"},
		{name: "seedream-4 goes to v7", spec: imgSpec, args: []string{"x", "--model", "seedream-4", "--aspect-ratio", "1:1"}, endpoint: "v7_text_to_image",
			body: map[string]any{"prompt": "x", "model_id": "seedream-4", "aspect_ratio": "1:1"}, debug: "model seedream-4 is a v7 model (built-in table)"},
		{name: "case-insensitive id", spec: imgSpec, args: []string{"x", "--model", "SEEDREAM-4"}, endpoint: "v7_text_to_image",
			body: map[string]any{"prompt": "x", "model_id": "SEEDREAM-4"}, debug: "v7"},
		{name: "-F model_id routes too", spec: imgSpec, args: []string{"x", "-F", "model_id=imagen-4"}, endpoint: "v7_text_to_image",
			body: map[string]any{"prompt": "x", "model_id": "imagen-4"}, debug: "imagen-4 is a v7 model"},
		{name: "v7 image to image", spec: imgSpec, args: []string{"x", "--model", "flux-kontext-pro", "--init-image", "https://e/a.png"}, endpoint: "v7_image_to_image",
			body: map[string]any{"prompt": "x", "model_id": "flux-kontext-pro", "init_image": "https://e/a.png"}},
		{name: "v7 inpaint", spec: imgSpec, args: []string{"x", "--model", "seedream-4", "--init-image", "https://e/a.png", "--mask-image", "https://e/m.png"}, endpoint: "v7_inpaint",
			body: map[string]any{"prompt": "x", "model_id": "seedream-4", "init_image": "https://e/a.png", "mask_image": "https://e/m.png"}},
		{name: "-F init_image picks image to image", spec: imgSpec, args: []string{"x", "--model", "flux", "-F", "init_image=https://e/a.png"}, endpoint: "img2img",
			body: map[string]any{"prompt": "x", "model_id": "flux", "init_image": "https://e/a.png"}},
		{name: "-F init_image list picks v7 image to video", spec: videoSpec, args: []string{"walk", "--model", "kling-v1-6", "-F", `init_image=["https://e/a.png","https://e/b.png"]`}, endpoint: "v7_image_to_video",
			body: map[string]any{"prompt": "walk", "model_id": "kling-v1-6", "init_image": []any{"https://e/a.png", "https://e/b.png"}}},
		{name: "unknown model: the default, said", spec: imgSpec, args: []string{"x", "--model", "my-lora-123"}, endpoint: "text2img",
			body: map[string]any{"prompt": "x", "model_id": "my-lora-123"}, debug: "model my-lora-123 is not in the model table: v6, the default of mlab img"},
		{name: "--api v7 forces", spec: imgSpec, args: []string{"x", "--model", "my-lora-123", "--api", "v7"}, endpoint: "v7_text_to_image",
			body: map[string]any{"prompt": "x", "model_id": "my-lora-123"}, debug: "--api v7"},
		{name: "--api v6 forces", spec: imgSpec, args: []string{"x", "--model", "seedream-4", "--api", "v6"}, endpoint: "text2img",
			body: map[string]any{"prompt": "x", "model_id": "seedream-4"}, debug: "--api v6"},
		{name: "--api v7 needs a model", spec: imgSpec, args: []string{"x", "--api", "v7"}, usage: true},
		{name: "controlnet has no v7", spec: imgSpec, args: []string{"x", "--api", "v7", "--model", "m", "--controlnet-model", "canny", "--init-image", "https://e/a.png"}, usage: true},
		{name: "bad --api", spec: imgSpec, args: []string{"x", "--api", "v8"}, usage: true},
		{name: "kling image to video", spec: videoSpec, args: []string{"go", "--model", "kling-v2-1-i2v", "--init-image", "https://e/a.png", "--duration", "5"}, endpoint: "v7_image_to_video",
			body: map[string]any{"prompt": "go", "model_id": "kling-v2-1-i2v", "init_image": "https://e/a.png", "duration": "5"}},
		{name: "v6 video gets numbers", spec: videoSpec, args: []string{"go", "--ultra", "--resolution", "720", "--init-image", "https://e/a.png"}, endpoint: "img2video_ultra",
			body: map[string]any{"prompt": "go", "model_id": "wan2.2", "init_image": "https://e/a.png", "resolution": 720}},
		{name: "--init-video is v7 video to video, gen4_aleph", spec: videoSpec, args: []string{"make it winter", "--init-video", "https://e/a.mp4", "--aspect-ratio", "1280:720"}, endpoint: "v7_video_to_video",
			body: map[string]any{"prompt": "make it winter", "model_id": "gen4_aleph", "init_video": "https://e/a.mp4", "aspect_ratio": "1280:720"}, debug: "--init-video"},
		{name: "--ultra has no v7", spec: videoSpec, args: []string{"go", "--ultra", "--model", "sora-2"}, usage: true},
		{name: "v7 tts drops the v6 defaults", spec: ttsSpec, args: []string{"hello", "--model", "eleven_multilingual_v2", "--voice-id", "v1"}, endpoint: "v7_text_to_speech",
			body: map[string]any{"prompt": "hello", "model_id": "eleven_multilingual_v2", "voice_id": "v1"}},
		{name: "v7 tts needs a voice", spec: ttsSpec, args: []string{"hello", "--model", "eleven_multilingual_v2"}, usage: true},
		{name: "v6 tts keeps them", spec: ttsSpec, args: []string{"hello"}, endpoint: "text_to_speech",
			body: map[string]any{"prompt": "hello", "voice_id": "madison", "language": "american english"}},
		{name: "v7 music", spec: musicSpec, args: []string{"afrobeat", "--model", "sonauto_song"}, endpoint: "v7_music_gen",
			body: map[string]any{"prompt": "afrobeat", "model_id": "sonauto_song"}},
		{name: "v7 speech to speech", spec: voiceConvertSpec, args: []string{"--init-audio", "https://e/a.wav", "--model", "eleven_english_sts_v2", "--voice-id", "v1"}, endpoint: "v7_speech_to_speech",
			body: map[string]any{"init_audio": "https://e/a.wav", "model_id": "eleven_english_sts_v2", "voice_id": "v1"}},
		{name: "v7 speech to speech needs a voice", spec: voiceConvertSpec, args: []string{"--init-audio", "https://e/a.wav", "--model", "eleven_english_sts_v2"}, usage: true},
		{name: "v6 sfx", spec: sfxSpec, args: []string{"door", "--duration", "5"}, endpoint: "sfx",
			body: map[string]any{"prompt": "door", "duration": 5.0}},
		{name: "v7 sfx: time in seconds", spec: sfxSpec, args: []string{"door", "--duration", "5", "--model", "eleven_sound_effect"}, endpoint: "v7_sound_generation",
			body: map[string]any{"prompt": "door", "time in seconds": 5.0, "model_id": "eleven_sound_effect"}},
		{name: "v6 stt", spec: sttSpec, args: []string{"https://e/a.wav", "--language", "en"}, endpoint: "speech_to_text",
			body: map[string]any{"init_audio": "https://e/a.wav", "language": "en"}},
		{name: "v7 stt", spec: sttSpec, args: []string{"https://e/a.wav", "--model", "scribe_v1"}, endpoint: "v7_speech_to_text",
			body: map[string]any{"init_audio": "https://e/a.wav", "model_id": "scribe_v1"}},
		{name: "v6 dub", spec: dubSpec, args: []string{"--video", "https://e/a.mp4", "--to", "es"}, endpoint: "create_dubbing",
			body: map[string]any{"init_video": "https://e/a.mp4", "output_lang": "es"}},
		{name: "v7 dub", spec: dubSpec, args: []string{"--audio", "https://e/a.mp3", "--to", "fr", "--model", "m1", "--api", "v7"}, endpoint: "v7_create_dubbing",
			body: map[string]any{"init_audio": "https://e/a.mp3", "target_language": "fr", "model_id": "m1"}},
		{name: "v6 dub needs a video", spec: dubSpec, args: []string{"--audio", "https://e/a.mp3", "--to", "fr"}, usage: true},
		{name: "lip-sync is v7", spec: lipSyncSpec, args: []string{"--video", "https://e/a.mp4", "--audio", "https://e/a.mp3"}, endpoint: "v7_lip_sync",
			body: map[string]any{"init_video": "https://e/a.mp4", "init_audio": "https://e/a.mp3", "model_id": "lipsync-2"}, debug: "mlab lip-sync runs on v7"},
		{name: "lip-sync has no v6", spec: lipSyncSpec, args: []string{"--video", "v", "--audio", "a", "--api", "v6"}, usage: true},
		{name: "motion control", spec: motionControlSpec, args: []string{"dance", "--image", "https://e/a.jpg", "--video", "https://e/a.mov", "--mode", "pro"}, endpoint: "v7_motion_control",
			body: map[string]any{"prompt": "dance", "init_image": "https://e/a.jpg", "init_video": "https://e/a.mov", "character_orientation": "image", "mode": "pro", "model_id": "kling-motion-control"}},
		{name: "motion control orientation checked", spec: motionControlSpec, args: []string{"--image", "i", "--video", "v", "--orientation", "sideways"}, usage: true},
		{name: "song extend", spec: songExtendSpec, args: []string{"another verse", "--audio", "https://e/s.ogg", "--extend-duration", "45", "--side", "right"}, endpoint: "v7_song_extender",
			body: map[string]any{"prompt": "another verse", "init_audio": "https://e/s.ogg", "extend_duration": "45.0", "side": "right", "model_id": "song-extender"}},
		{name: "song inpaint", spec: songInpaintSpec, args: []string{"happier chorus", "--audio", "https://e/s.mp3"}, endpoint: "v7_song_inpaint",
			body: map[string]any{"prompt": "happier chorus", "init_audio": "https://e/s.mp3", "model_id": "song-inpaint"}},
		{name: "face swap", spec: faceSwapSpec, args: []string{"--init-image", "https://e/f.jpg", "--target-image", "https://e/t.jpg"}, endpoint: "single_face_swap",
			body: map[string]any{"init_image": "https://e/f.jpg", "target_image": "https://e/t.jpg"}, debug: "mlab face-swap runs on v6"},
		{name: "face swap, all faces", spec: faceSwapSpec, args: []string{"--init-image", "https://e/f.jpg", "--target-image", "https://e/t.jpg", "--all"}, endpoint: "multiple_face_swap",
			body: map[string]any{"init_image": "https://e/f.jpg", "target_image": "https://e/t.jpg"}},
		{name: "face swap, video, one face", spec: faceSwapSpec, args: []string{"--init-image", "https://e/f.jpg", "--init-video", "https://e/v.mp4", "--reference-image", "https://e/r.jpg"}, endpoint: "specific_video_swap",
			body: map[string]any{"init_image": "https://e/f.jpg", "init_video": "https://e/v.mp4", "reference_image": "https://e/r.jpg"}},
		{name: "face swap has no v7", spec: faceSwapSpec, args: []string{"--init-image", "f", "--target-image", "t", "--api", "v7"}, usage: true},
		{name: "interior", spec: interiorSpec, args: []string{"scandinavian", "--image", "https://e/r.jpg"}, endpoint: "interior",
			body: map[string]any{"prompt": "scandinavian", "init_image": "https://e/r.jpg"}},
		{name: "interior object removal", spec: interiorSpec, args: []string{"--op", "object-removal", "--image", "https://e/r.jpg", "--object-name", "sofa"}, endpoint: "interior_object_removal",
			body: map[string]any{"init_image": "https://e/r.jpg", "object_name": "sofa"}},
		{name: "interior needs a prompt", spec: interiorSpec, args: []string{"--image", "https://e/r.jpg"}, usage: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var errOut bytes.Buffer
			f, _ := routeFactory(t, &errOut)
			name, body, err := routed(t, f, c.spec, c.args...)
			if c.usage {
				var fe *FlagError
				if !errors.As(err, &fe) && (err == nil || !strings.Contains(err.Error(), "unknown flag")) {
					t.Fatalf("err = %v (endpoint %s, body %v), want a usage error", err, name, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name != c.endpoint || !reflect.DeepEqual(body, c.body) {
				t.Errorf("routed to %s with %#v\nwant %s with %#v", name, body, c.endpoint, c.body)
			}
			if !strings.Contains(errOut.String(), "route: ") || !strings.Contains(errOut.String(), c.debug) {
				t.Errorf("--debug said %q, want %q", errOut.String(), c.debug)
			}
		})
	}
}

// TestRouteFromTheCache: the cached model list teaches the table a model
// it does not know, and overrides it where it names the API.
func TestRouteFromTheCache(t *testing.T) {
	var errOut bytes.Buffer
	f, dir := routeFactory(t, &errOut)
	c := models.Cache{Dir: dir}
	if err := c.Save(config.DefaultBaseURL, []models.Model{
		{ID: "brand-new-v7-model", API: "v7"},
		{ID: "seedream-4", API: "v6"}, // the API says otherwise: it wins
	}); err != nil {
		t.Fatal(err)
	}
	name, _, err := routed(t, f, imgSpec, "x", "--model", "brand-new-v7-model")
	if err != nil || name != "v7_text_to_image" || !strings.Contains(errOut.String(), "model list (cache)") {
		t.Fatalf("routed to %s (%v); debug %q", name, err, errOut.String())
	}
	f2, _ := routeFactory(t, &bytes.Buffer{})
	if name, _, _ := routed(t, f2, imgSpec, "x", "--model", "brand-new-v7-model"); name != "text2img" {
		t.Errorf("without the cache: %s, want text2img (unknown → default)", name)
	}
	f3, _ := routeFactory(t, &bytes.Buffer{})
	f3.Getenv = f.Getenv
	if name, _, _ := routed(t, f3, imgSpec, "x", "--model", "seedream-4"); name != "text2img" {
		t.Errorf("cache says seedream-4 is v6: routed to %s", name)
	}
}

// TestFieldOverridesFlagChecks: a field given with -F counts as its flag
// for the endpoint choice, but is not checked or typed as the flag.
func TestFieldOverridesFlagChecks(t *testing.T) {
	f, _ := routeFactory(t, &bytes.Buffer{})
	name, body, err := routed(t, f, songExtendSpec, "--audio", "https://e/s.mp3", "-F", "side=middle", "-F", "extend_duration=30")
	if err != nil || name != "v7_song_extender" || body["side"] != "middle" {
		t.Fatalf("%s %v %v", name, body, err)
	}
	f2, _ := routeFactory(t, &bytes.Buffer{})
	name, body, err = routed(t, f2, videoSpec, "x", "-F", "num_frames=25", "-F", "init_image=https://e/a.png")
	if err != nil || name != "img2video" || body["num_frames"] == nil {
		t.Fatalf("%s %v %v", name, body, err)
	}
}
