package api

import (
	"net/url"
	"sort"
	"strings"
)

// AuthStyle says where an endpoint expects the API key.
type AuthStyle int

const (
	// AuthBody sends the key as the "key" field of the JSON body (v3–v6).
	AuthBody AuthStyle = iota
	// AuthHeader sends the key only in a "key" HTTP header (workflows).
	AuthHeader
	// AuthBoth sends the key in the body and in the "key" header (v7).
	AuthBoth
)

// String returns "body", "header" or "both".
func (a AuthStyle) String() string {
	switch a {
	case AuthBody:
		return "body"
	case AuthHeader:
		return "header"
	case AuthBoth:
		return "both"
	}
	return "unknown"
}

func (a AuthStyle) inBody() bool   { return a == AuthBody || a == AuthBoth }
func (a AuthStyle) inHeader() bool { return a == AuthHeader || a == AuthBoth }

// Family says how an endpoint's jobs are tracked.
type Family int

const (
	// FamilyGeneration: submit → processing {id, eta, fetch_result} → POST
	// fetch {key}. The default, and every generation row.
	FamilyGeneration Family = iota
	// FamilyTraining: v3 lora_fine_tune / fine_tune answer a training_id;
	// the stage is in messege / training_status; poll with POST
	// fine_tune_status/{id}.
	FamilyTraining
	// FamilyWorkflow: v1 workflows: key in the header, HTTP 202
	// {execution_id, status_url}; poll with GET runs/{id}; the state is in
	// execution.status.
	FamilyWorkflow
)

// String returns "generation", "training" or "workflow".
func (f Family) String() string {
	switch f {
	case FamilyGeneration:
		return "generation"
	case FamilyTraining:
		return "training"
	case FamilyWorkflow:
		return "workflow"
	}
	return "unknown"
}

// Endpoint is one row of the catalogue: everything a generic submit-and-wait
// command needs to drive a ModelsLab generation endpoint.
type Endpoint struct {
	// Name is the catalogue key, e.g. "text2img".
	Name string
	// Kind is the command family: "img", "edit", "video", "audio", "3d",
	// "faceswap", "interior", "train" or "workflow".
	Kind string
	// Summary is one line for help text.
	Summary string
	// SubmitPath is the path the job is POSTed to, e.g. "/api/v6/images/text2img".
	SubmitPath string
	// FetchPath is the poll path with an "{id}" placeholder,
	// e.g. "/api/v6/images/fetch/{id}". Both paths may hold other
	// placeholders such as "{workflow_id}" (see PathParams).
	FetchPath string
	// Auth says where the key goes.
	Auth AuthStyle
	// Required lists body fields that must be present besides "key".
	Required []string
	// Family says how the endpoint's jobs are tracked and decoded (see
	// DecodeFor).
	Family Family
	// FetchMethod is the HTTP method of the poll call: "" means POST (with
	// a JSON body carrying the key as Auth says); "GET" sends no body.
	FetchMethod string
}

// PathParams returns the placeholder names in SubmitPath and FetchPath other
// than "id", e.g. ["workflow_id"], each once, in order of appearance; nil
// when there are none.
func (e Endpoint) PathParams() []string {
	var out []string
	seen := map[string]bool{"id": true}
	for _, p := range []string{e.SubmitPath, e.FetchPath} {
		for _, name := range placeholders(p) {
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	return out
}

// WithPathParams returns a copy of e with each PathParams placeholder that p
// names replaced by its path-escaped value in SubmitPath and FetchPath.
// Placeholders p does not name, and "{id}", are left as they are.
func (e Endpoint) WithPathParams(p map[string]string) Endpoint {
	out := cloneEndpoint(e)
	for _, name := range e.PathParams() {
		v, ok := p[name]
		if !ok {
			continue
		}
		ph := "{" + name + "}"
		esc := url.PathEscape(v)
		out.SubmitPath = strings.ReplaceAll(out.SubmitPath, ph, esc)
		out.FetchPath = strings.ReplaceAll(out.FetchPath, ph, esc)
	}
	return out
}

// placeholders returns the names inside {…} in path, in order.
func placeholders(path string) []string {
	var out []string
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(path[i+1:], '}')
		if j < 0 {
			return out
		}
		if name := path[i+1 : i+1+j]; name != "" && !strings.ContainsAny(name, "{/") {
			out = append(out, name)
		}
		path = path[i+1+j+1:]
	}
}

// unsetParams returns the placeholders other than "{id}" still in path.
func unsetParams(path string) []string {
	var out []string
	for _, name := range placeholders(path) {
		if name != "id" {
			out = append(out, name)
		}
	}
	return out
}

// fetchMethod returns the HTTP method of the poll call.
func (e Endpoint) fetchMethod() string {
	if m := strings.ToUpper(strings.TrimSpace(e.FetchMethod)); m != "" {
		return m
	}
	return "POST"
}

// SubmitURL returns base + SubmitPath (base may end in a slash).
func (e Endpoint) SubmitURL(base string) string {
	return strings.TrimRight(base, "/") + e.SubmitPath
}

// FetchURL returns base + FetchPath with "{id}" replaced by the path-escaped id.
func (e Endpoint) FetchURL(base, id string) string {
	return strings.TrimRight(base, "/") + strings.ReplaceAll(e.FetchPath, "{id}", url.PathEscape(id))
}

// Missing returns the Required fields that body lacks, in Required order. A
// field counts as missing when it is absent, nil or an empty string.
func (e Endpoint) Missing(body map[string]any) []string {
	var missing []string
	for _, f := range e.Required {
		v, ok := body[f]
		if !ok || v == nil {
			missing = append(missing, f)
			continue
		}
		if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
			missing = append(missing, f)
		}
	}
	return missing
}

const (
	fetchImages   = "/api/v6/images/fetch/{id}"
	fetchRealtime = "/api/v6/realtime/fetch/{id}"
	fetchVideo    = "/api/v6/video/fetch/{id}"
	fetchVoice    = "/api/v6/voice/fetch/{id}"
	fetch3D       = "/api/v6/3d/fetch/{id}"
	fetchEditing  = "/api/v6/image_editing/fetch/{id}"
	fetchTraining = "/api/v3/fine_tune_status/{id}"
	fetchWhisper  = "/api/v6/whisper/fetch/{id}"
	fetchDeepfake = "/api/v6/deepfake/fetch/{id}"
	fetchInterior = "/api/v6/interior/fetch/{id}"

	// The v7 ("unified") API: model_id picks the model; three fetch
	// families.
	fetchV7Images = "/api/v7/images/fetch/{id}"
	fetchV7Video  = "/api/v7/video-fusion/fetch/{id}"
	fetchV7Voice  = "/api/v7/voice/fetch/{id}"
)

// v7 returns a v7 catalogue row: the key in the body and the header,
// model_id required.
func v7(name, kind, summary, path, fetch string, required ...string) Endpoint {
	return Endpoint{Name: name, Kind: kind, Summary: summary, SubmitPath: path, FetchPath: fetch,
		Auth: AuthBoth, Required: append([]string{"model_id"}, required...)}
}

// catalogue is the endpoint table. Adding a row is all it takes for a
// generic `mlab run NAME` to drive an endpoint. Required fields follow the
// official OpenAPI files, minus fields a default can supply.
var catalogue = []Endpoint{
	// Images (v6 community models, Flux via model_id, ControlNet on v5).
	{Name: "text2img", Kind: "img", Summary: "Generate images from a text prompt",
		SubmitPath: "/api/v6/images/text2img", FetchPath: fetchImages, Required: []string{"prompt"}},
	{Name: "img2img", Kind: "img", Summary: "Generate images from an initial image and a prompt",
		SubmitPath: "/api/v6/images/img2img", FetchPath: fetchImages, Required: []string{"init_image"}},
	{Name: "inpaint", Kind: "img", Summary: "Repaint the masked part of an image",
		SubmitPath: "/api/v6/images/inpaint", FetchPath: fetchImages, Required: []string{"init_image", "mask_image"}},
	{Name: "controlnet", Kind: "img", Summary: "Generate images guided by a ControlNet model",
		SubmitPath: "/api/v5/controlnet", FetchPath: fetchImages, Required: []string{"controlnet_model", "init_image"}},
	{Name: "realtime_text2img", Kind: "img", Summary: "Fast text-to-image (realtime Stable Diffusion)",
		SubmitPath: "/api/v6/realtime/text2img", FetchPath: fetchRealtime, Required: []string{"prompt"}},
	{Name: "realtime_img2img", Kind: "img", Summary: "Fast image-to-image (realtime Stable Diffusion)",
		SubmitPath: "/api/v6/realtime/img2img", FetchPath: fetchRealtime, Required: []string{"prompt", "init_image"}},
	{Name: "realtime_inpaint", Kind: "img", Summary: "Fast inpainting (realtime Stable Diffusion)",
		SubmitPath: "/api/v6/realtime/inpaint", FetchPath: fetchRealtime, Required: []string{"prompt", "init_image", "mask_image"}},

	// Video.
	{Name: "text2video", Kind: "video", Summary: "Generate a video from a text prompt",
		SubmitPath: "/api/v6/video/text2video", FetchPath: fetchVideo, Required: []string{"prompt"}},
	{Name: "img2video", Kind: "video", Summary: "Animate an image into a video",
		SubmitPath: "/api/v6/video/img2video", FetchPath: fetchVideo, Required: []string{"init_image"}},
	{Name: "text2video_ultra", Kind: "video", Summary: "Generate a high-quality video from a text prompt",
		SubmitPath: "/api/v6/video/text2video_ultra", FetchPath: fetchVideo, Required: []string{"prompt"}},
	{Name: "img2video_ultra", Kind: "video", Summary: "Animate an image into a high-quality video",
		SubmitPath: "/api/v6/video/img2video_ultra", FetchPath: fetchVideo, Required: []string{"init_image", "prompt"}},

	// Audio / voice.
	{Name: "text_to_speech", Kind: "audio", Summary: "Speak a text (the text goes in prompt)",
		SubmitPath: "/api/v6/voice/text_to_speech", FetchPath: fetchVoice, Required: []string{"prompt", "voice_id", "language"}},
	{Name: "text_to_audio", Kind: "audio", Summary: "Speak a text in a cloned voice (init_audio or voice_id)",
		SubmitPath: "/api/v6/voice/text_to_audio", FetchPath: fetchVoice, Required: []string{"prompt"}},
	{Name: "voice_to_voice", Kind: "audio", Summary: "Convert a recording into another voice",
		SubmitPath: "/api/v6/voice/voice_to_voice", FetchPath: fetchVoice, Required: []string{"init_audio", "target_audio"}},
	{Name: "music_gen", Kind: "audio", Summary: "Generate music from a text prompt",
		SubmitPath: "/api/v6/voice/music_gen", FetchPath: fetchVoice, Required: []string{"prompt"}},
	{Name: "song_generator", Kind: "audio", Summary: "Generate a song from lyrics (or generated lyrics)",
		SubmitPath: "/api/v6/voice/song_generator", FetchPath: fetchVoice},

	// 3D.
	{Name: "text_to_3d", Kind: "3d", Summary: "Generate a 3D model from a text prompt",
		SubmitPath: "/api/v6/3d/text_to_3d", FetchPath: fetch3D, Required: []string{"prompt"}},
	{Name: "image_to_3d", Kind: "3d", Summary: "Generate a 3D model from an image",
		SubmitPath: "/api/v6/3d/image_to_3d", FetchPath: fetch3D, Required: []string{"init_image"}},

	// Image editing.
	{Name: "removebg_mask", Kind: "edit", Summary: "Remove the background of an image",
		SubmitPath: "/api/v6/image_editing/removebg_mask", FetchPath: fetchEditing, Required: []string{"image"}},
	{Name: "super_resolution", Kind: "edit", Summary: "Upscale an image",
		SubmitPath: "/api/v6/image_editing/super_resolution", FetchPath: fetchEditing, Required: []string{"init_image"}},
	{Name: "outpaint", Kind: "edit", Summary: "Extend an image beyond its borders",
		SubmitPath: "/api/v6/image_editing/outpaint", FetchPath: fetchEditing},
	{Name: "object_removal", Kind: "edit", Summary: "Remove the masked object from an image",
		SubmitPath: "/api/v6/image_editing/object_removal", FetchPath: fetchEditing, Required: []string{"init_image", "mask_image"}},
	{Name: "edit_inpaint", Kind: "edit", Summary: "Repaint the masked part of an image (image editing service)",
		SubmitPath: "/api/v6/image_editing/inpaint", FetchPath: fetchEditing, Required: []string{"prompt", "init_image", "mask_image"}},
	{Name: "caption", Kind: "edit", Summary: "Describe an image in words",
		SubmitPath: "/api/v6/image_editing/caption", FetchPath: fetchEditing, Required: []string{"init_image"}},
	{Name: "face_gen", Kind: "edit", Summary: "Generate images that keep a given face",
		SubmitPath: "/api/v6/image_editing/face_gen", FetchPath: fetchEditing, Required: []string{"prompt", "face_image"}},
	{Name: "head_shot", Kind: "edit", Summary: "Generate a head shot from a face image",
		SubmitPath: "/api/v6/image_editing/head_shot", FetchPath: fetchEditing, Required: []string{"prompt", "face_image"}},
	{Name: "flux_headshot", Kind: "edit", Summary: "Generate a head shot from a face image with Flux",
		SubmitPath: "/api/v6/image_editing/flux_headshot", FetchPath: fetchEditing, Required: []string{"prompt", "face_image"}},
	{Name: "fashion", Kind: "edit", Summary: "Try a garment on a model image",
		SubmitPath: "/api/v6/image_editing/fashion", FetchPath: fetchEditing, Required: []string{"init_image", "cloth_image", "cloth_type"}},
	{Name: "qwen_edit", Kind: "edit", Summary: "Edit images from a text instruction (Qwen)",
		SubmitPath: "/api/v6/image_editing/qwen_edit", FetchPath: fetchEditing, Required: []string{"prompt", "init_image"}},
	{Name: "img_mixer", Kind: "edit", Summary: "Mix several images guided by a prompt",
		SubmitPath: "/api/v6/image_editing/img_mixer", FetchPath: fetchEditing, Required: []string{"prompt", "init_image"}},
	{Name: "mask_creator", Kind: "edit", Summary: "Create a mask for an object in an image",
		SubmitPath: "/api/v6/image_editing/mask_creator", FetchPath: fetchEditing, Required: []string{"specific_object"}},

	// Audio / voice, the v6 rows the official SDKs call.
	{Name: "speech_to_text", Kind: "audio", Summary: "Transcribe speech (Whisper); the transcript is a text file",
		SubmitPath: "/api/v6/voice/speech_to_text", FetchPath: fetchWhisper, Required: []string{"init_audio"}},
	{Name: "sfx", Kind: "audio", Summary: "Generate a sound effect from a text prompt",
		SubmitPath: "/api/v6/voice/sfx", FetchPath: fetchVoice, Required: []string{"prompt"}},
	{Name: "voice_cover", Kind: "audio", Summary: "Sing a song in another voice (AI cover)",
		SubmitPath: "/api/v6/voice/voice_cover", FetchPath: fetchVoice, Required: []string{"init_audio"}},
	{Name: "lyrics_generator", Kind: "audio", Summary: "Write song lyrics from a prompt (a text file)",
		SubmitPath: "/api/v6/voice/lyrics_generator", FetchPath: fetchVoice, Required: []string{"prompt"}},
	{Name: "create_dubbing", Kind: "audio", Summary: "Dub a video into another language (output_lang)",
		SubmitPath: "/api/v6/voice/create_dubbing", FetchPath: fetchVoice, Required: []string{"init_video", "output_lang"}},
	{Name: "watermark_remover", Kind: "video", Summary: "Remove a watermark from a video",
		SubmitPath: "/api/v6/video/watermark_remover", FetchPath: fetchVideo, Required: []string{"init_video"}},

	// Face swap (v6 deepfake).
	{Name: "single_face_swap", Kind: "faceswap", Summary: "Put the face of init_image onto target_image",
		SubmitPath: "/api/v6/deepfake/single_face_swap", FetchPath: fetchDeepfake, Required: []string{"init_image", "target_image"}},
	{Name: "multiple_face_swap", Kind: "faceswap", Summary: "Swap every face of target_image for the face of init_image",
		SubmitPath: "/api/v6/deepfake/multiple_face_swap", FetchPath: fetchDeepfake, Required: []string{"init_image", "target_image"}},
	{Name: "single_video_swap", Kind: "faceswap", Summary: "Put the face of init_image onto the faces of init_video",
		SubmitPath: "/api/v6/deepfake/single_video_swap", FetchPath: fetchDeepfake, Required: []string{"init_image", "init_video"}},
	{Name: "specific_video_swap", Kind: "faceswap", Summary: "Put the face of init_image onto the face in init_video that matches reference_image",
		SubmitPath: "/api/v6/deepfake/specific_video_swap", FetchPath: fetchDeepfake, Required: []string{"init_image", "init_video", "reference_image"}},

	// Interior design (v6).
	{Name: "interior", Kind: "interior", Summary: "Redesign a room from a photo and a prompt",
		SubmitPath: "/api/v6/interior/make", FetchPath: fetchInterior, Required: []string{"init_image", "prompt"}},
	{Name: "room_decorator", Kind: "interior", Summary: "Decorate an empty room",
		SubmitPath: "/api/v6/interior/room_decorator", FetchPath: fetchInterior, Required: []string{"init_image", "prompt"}},
	{Name: "floor_planning", Kind: "interior", Summary: "Render a room from a floor plan",
		SubmitPath: "/api/v6/interior/floor_planning", FetchPath: fetchInterior, Required: []string{"init_image", "prompt"}},
	{Name: "scenario_changer", Kind: "interior", Summary: "Change the scene around a building or room",
		SubmitPath: "/api/v6/interior/scenario", FetchPath: fetchInterior, Required: []string{"init_image", "prompt"}},
	{Name: "exterior_restorer", Kind: "interior", Summary: "Restore or redesign a building's exterior",
		SubmitPath: "/api/v6/interior/exterior_restorer", FetchPath: fetchInterior, Required: []string{"init_image", "prompt"}},
	{Name: "interior_object_removal", Kind: "interior", Summary: "Remove a named object from a room photo",
		SubmitPath: "/api/v6/interior/object_removal", FetchPath: fetchInterior, Required: []string{"init_image", "object_name"}},
	{Name: "interior_mixer", Kind: "interior", Summary: "Place an object into a room photo",
		SubmitPath: "/api/v6/interior/interior_mixer", FetchPath: fetchInterior, Required: []string{"init_image", "object_image", "prompt"}},

	// v7: third-party and unified models; model_id picks the model.
	v7("v7_text_to_image", "img", "Text to image on v7 (seedream, imagen, nano-banana, flux-2-pro, gen4_image ...)",
		"/api/v7/images/text-to-image", fetchV7Images, "prompt"),
	v7("v7_image_to_image", "img", "Image to image on v7 (flux-kontext-pro, seededit, nano-banana ...)",
		"/api/v7/images/image-to-image", fetchV7Images, "init_image", "prompt"),
	v7("v7_inpaint", "img", "Inpaint on v7",
		"/api/v7/images/inpaint", fetchV7Images, "prompt", "init_image", "mask_image"),
	v7("v7_text_to_video", "video", "Text to video on v7 (kling, hailuo, seedance, sora, veo, wan ...)",
		"/api/v7/video-fusion/text-to-video", fetchV7Video, "prompt"),
	v7("v7_image_to_video", "video", "Image to video on v7 (kling, hailuo, seedance, omni-human ...)",
		"/api/v7/video-fusion/image-to-video", fetchV7Video, "init_image"),
	v7("v7_video_to_video", "video", "Video to video on v7 (gen4_aleph)",
		"/api/v7/video-fusion/video-to-video", fetchV7Video, "prompt", "init_video"),
	v7("v7_lip_sync", "video", "Lip-sync a video to an audio track (lipsync-2)",
		"/api/v7/video-fusion/lip-sync", fetchV7Video, "init_video", "init_audio"),
	v7("v7_motion_control", "video", "Animate an image with the motion of a video (kling-motion-control)",
		"/api/v7/video-fusion/motion-control", fetchV7Video, "init_image", "init_video", "character_orientation"),
	v7("v7_text_to_speech", "audio", "Text to speech on v7 (eleven_multilingual_v2, inworld-tts-1)",
		"/api/v7/voice/text-to-speech", fetchV7Voice, "prompt", "voice_id"),
	v7("v7_speech_to_text", "audio", "Transcribe speech on v7 (scribe_v1)",
		"/api/v7/voice/speech-to-text", fetchV7Voice, "init_audio"),
	v7("v7_speech_to_speech", "audio", "Speech to speech in another voice on v7 (eleven_english_sts_v2)",
		"/api/v7/voice/speech-to-speech", fetchV7Voice, "init_audio", "voice_id"),
	v7("v7_sound_generation", "audio", "Sound effects on v7 (eleven_sound_effect; length in \"time in seconds\")",
		"/api/v7/voice/sound-generation", fetchV7Voice, "prompt"),
	v7("v7_music_gen", "audio", "Music on v7 (music_v1, sonauto_song)",
		"/api/v7/voice/music-gen", fetchV7Voice, "prompt"),
	v7("v7_create_dubbing", "audio", "Dub audio or video into target_language on v7",
		"/api/v7/voice/create-dubbing", fetchV7Voice, "target_language"),
	v7("v7_song_extender", "audio", "Extend a song (song-extender; extend_duration, side)",
		"/api/v7/voice/song-extender", fetchV7Voice, "init_audio"),
	v7("v7_song_inpaint", "audio", "Rewrite part of a song (song-inpaint)",
		"/api/v7/voice/song-inpaint", fetchV7Voice, "init_audio"),

	// Training (v3): the answer is a training_id; poll fine_tune_status.
	{Name: "lora_fine_tune", Kind: "train", Summary: "Train a LoRA on your images",
		SubmitPath: "/api/v3/lora_fine_tune", FetchPath: fetchTraining, Required: []string{"instance_prompt", "images"},
		Family: FamilyTraining},
	{Name: "fine_tune", Kind: "train", Summary: "Fine-tune a DreamBooth model on your images",
		SubmitPath: "/api/v3/fine_tune", FetchPath: fetchTraining, Required: []string{"instance_prompt", "images"},
		Family: FamilyTraining},

	// Workflows (v1): key in the header; poll with GET.
	{Name: "workflow_run", Kind: "workflow", Summary: "Run one of your API-enabled workflows",
		SubmitPath: "/api/v1/workflows/{workflow_id}/run", FetchPath: "/api/v1/workflows/{workflow_id}/runs/{id}",
		Auth: AuthHeader, Family: FamilyWorkflow, FetchMethod: "GET"},
}

var byName = func() map[string]int {
	m := make(map[string]int, len(catalogue))
	for i, e := range catalogue {
		m[e.Name] = i
	}
	return m
}()

// Lookup returns the catalogue row called name.
func Lookup(name string) (Endpoint, bool) {
	i, ok := byName[name]
	if !ok {
		return Endpoint{}, false
	}
	return cloneEndpoint(catalogue[i]), true
}

// Catalogue returns a copy of every row, sorted by Kind, then Name.
func Catalogue() []Endpoint {
	out := make([]Endpoint, len(catalogue))
	for i, e := range catalogue {
		out[i] = cloneEndpoint(e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Version returns the API version of the submit path, e.g. "v6" or "v7";
// "" when the path names none.
func (e Endpoint) Version() string {
	rest, ok := strings.CutPrefix(e.SubmitPath, "/api/")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "/")
	if len(v) < 2 || v[0] != 'v' {
		return ""
	}
	return v
}

func cloneEndpoint(e Endpoint) Endpoint {
	e.Required = append([]string(nil), e.Required...)
	return e
}
