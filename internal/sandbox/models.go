package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Model discovery: GET /api/v7/models and GET /api/v6/model-search[/{id}],
// the API key in the query ("key"), answered in the agents API's envelope
// {"data":…,"error":…,"meta":{"request_id":…}}. The two lists wrap their
// items differently on purpose (v7: data.items, v6: data), as the real
// ones may: clients must read both.

const (
	modelsV7Path  = "/api/v7/models"
	modelSearchV6 = "/api/v6/model-search"
	// defaultPerPage and maxPerPage bound v6 model-search's pages.
	defaultPerPage = 20
	maxPerPage     = 100
)

func isModelsPath(p string) bool {
	return p == modelsV7Path || p == modelSearchV6 || strings.HasPrefix(p, modelSearchV6+"/")
}

// endpoint is a generation endpoint a catalogue model runs on, with the
// JSON Schema properties of its parameters (model_id, webhook and track_id
// are added to every one).
type endpoint struct {
	version, family, op string
	props               object
}

func (e *endpoint) path() string { return "/api/v" + e.version + "/" + e.family + "/" + e.op }

// required lists what the sandbox requires on e, in the order the
// schema gives: the operation's fields, then model_id.
func (e *endpoint) required() []string {
	var req []string
	if e.version == "7" {
		req = slices.Clone(v7Ops[e.family][e.op])
	} else {
		if promptRequired[e.op] {
			req = append(req, "prompt")
		}
		for _, f := range v6Required[e.family+"/"+e.op] {
			if !slices.Contains(req, f) {
				req = append(req, f)
			}
		}
	}
	return append(req, "model_id")
}

// catModel is one model of the catalogue.
type catModel struct {
	id, name, provider, feature, modelType, sub, desc string
	ep                                                *endpoint
	tags                                              []string
	required                                          []string // the model's own, after the endpoint's
	props                                             object   // the model's own, replacing or adding to the endpoint's
}

// JSON Schema fragments.
func pText(desc string) object { return object{{"type", "string"}, {"description", desc}} }
func pURL(desc string) object {
	return object{{"type", "string"}, {"format", "uri"}, {"description", desc}}
}
func pEnum(desc, def string, vals ...string) object {
	return object{{"type", "string"}, {"enum", vals}, {"default", def}, {"description", desc}}
}
func pInt(desc string, lo, hi, def int) object {
	return object{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}, {"default", def}, {"description", desc}}
}
func pNum(desc string, lo, hi, def float64) object {
	return object{{"type", "number"}, {"minimum", lo}, {"maximum", hi}, {"default", def}, {"description", desc}}
}
func pBool(desc string, def bool) object {
	return object{{"type", "boolean"}, {"default", def}, {"description", desc}}
}

var aspect3 = pEnum("Aspect ratio of the image.", "1:1", "1:1", "16:9", "9:16")

var (
	epV6Text2Img = &endpoint{"6", "images", "text2img", object{
		{"prompt", pText("What to draw.")},
		{"negative_prompt", pText("What to keep out of the image.")},
		{"width", pInt("Width in pixels.", 256, 1024, 512)},
		{"height", pInt("Height in pixels.", 256, 1024, 512)},
		{"samples", pInt("Number of images.", 1, 4, 1)},
		{"num_inference_steps", pInt("Denoising steps.", 1, 50, 30)},
		{"guidance_scale", pNum("How closely to follow the prompt.", 1, 20, 7.5)},
		{"seed", object{{"type", "integer"}, {"description", "Seed; omit for a random one."}}},
	}}
	epV6Text2Video = &endpoint{"6", "video", "text2video", object{
		{"prompt", pText("What happens in the video.")},
		{"negative_prompt", pText("What to keep out of the video.")},
		{"width", pInt("Width in pixels.", 256, 1280, 512)},
		{"height", pInt("Height in pixels.", 256, 1280, 512)},
		{"num_frames", pInt("Number of frames.", 16, 81, 25)},
		{"fps", pInt("Frames per second.", 8, 30, 16)},
		{"output_type", pEnum("File type of the video.", "mp4", "mp4", "gif")},
	}}
	epV7T2I = &endpoint{"7", "images", "text-to-image", object{
		{"prompt", pText("What to draw.")},
		{"negative_prompt", pText("What to keep out of the image.")},
		{"width", pInt("Width in pixels.", 256, 2048, 1024)},
		{"height", pInt("Height in pixels.", 256, 2048, 1024)},
		{"samples", pInt("Number of images.", 1, 4, 1)},
		{"seed", object{{"type", "integer"}, {"description", "Seed; omit for a random one."}}},
	}}
	epV7I2I = &endpoint{"7", "images", "image-to-image", object{
		{"prompt", pText("The edit to make.")},
		{"init_image", pURL("URL of the image to edit.")},
		{"strength", pNum("How much to change the image.", 0, 1, 0.7)},
		{"negative_prompt", pText("What to keep out of the image.")},
	}}
	epV7T2V = &endpoint{"7", "video-fusion", "text-to-video", object{
		{"prompt", pText("What happens in the video.")},
		{"negative_prompt", pText("What to keep out of the video.")},
		{"aspect_ratio", pEnum("Aspect ratio of the video.", "16:9", "16:9", "9:16", "1:1")},
		{"duration", pEnum("Length in seconds, as a string.", "5", "5", "10")},
		{"resolution", pEnum("Resolution.", "720p", "480p", "720p", "1080p")},
		{"enhance_prompt", pBool("Let the model rewrite the prompt.", false)},
		{"seed", object{{"type", "integer"}, {"description", "Seed; omit for a random one."}}},
	}}
	epV7I2V = &endpoint{"7", "video-fusion", "image-to-video", object{
		{"init_image", pURL("URL of the first frame.")},
		{"prompt", pText("How the image moves.")},
		{"duration", pEnum("Length in seconds, as a string.", "5", "5", "10")},
		{"aspect_ratio", pEnum("Aspect ratio of the video.", "16:9", "16:9", "9:16", "1:1")},
	}}
	epV7V2V = &endpoint{"7", "video-fusion", "video-to-video", object{
		{"init_video", pURL("URL of the video to edit.")},
		{"prompt", pText("The edit to make.")},
		{"init_image", pURL("URL of a reference image.")},
		{"public_figure_threshold", pEnum("Moderation of public figures.", "auto", "auto", "low")},
	}}
	epV7LipSync = &endpoint{"7", "video-fusion", "lip-sync", object{
		{"init_video", pURL("URL of the video whose lips move.")},
		{"init_audio", pURL("URL of the speech to sync to.")},
	}}
	epV7Motion = &endpoint{"7", "video-fusion", "motion-control", object{
		{"prompt", object{{"type", "string"}, {"maxLength", 2500}, {"description", "What the character does."}}},
		{"init_image", pURL("URL of the character's image.")},
		{"init_video", pURL("URL of the reference motion.")},
		{"character_orientation", pEnum("Whose orientation to keep.", "image", "image", "video")},
		{"mode", pEnum("Quality.", "std", "std", "pro")},
		{"keep_original_sound", pEnum("Keep the reference video's sound.", "yes", "yes", "no")},
	}}
	outputFormat = pEnum("Audio file type.", "mp3", "mp3", "wav")
	epV7TTS      = &endpoint{"7", "voice", "text-to-speech", object{
		{"prompt", pText("The text to speak.")},
		{"voice_id", pText("The voice to speak with.")},
		{"temperature", pNum("Variation of the delivery.", 0, 1, 0.5)},
		{"output_format", outputFormat},
	}}
	epV7STT = &endpoint{"7", "voice", "speech-to-text", object{
		{"init_audio", pURL("URL of the speech to transcribe.")},
		{"language", pText("Language code; omit to detect it.")},
	}}
	epV7STS = &endpoint{"7", "voice", "speech-to-speech", object{
		{"init_audio", pURL("URL of the speech to revoice.")},
		{"voice_id", pText("The voice to speak with.")},
		{"output_format", outputFormat},
	}}
	epV7SFX = &endpoint{"7", "voice", "sound-generation", object{
		{"prompt", pText("The sound to make.")},
		{"time in seconds", pNum("Length in seconds.", 1, 22, 5)},
		{"output_format", outputFormat},
	}}
	epV7Music = &endpoint{"7", "voice", "music-gen", object{
		{"prompt", pText("The music to make.")},
		{"duration", pInt("Length in seconds.", 10, 300, 30)},
		{"output_format", outputFormat},
	}}
	epV7SongExtend = &endpoint{"7", "voice", "song-extender", object{
		{"init_audio", pURL("URL of the song to extend.")},
		{"prompt", pText("What the extension sings about.")},
		{"extend_duration", object{{"type", "string"}, {"pattern", `^[0-9]+(\.[0-9]+)?$`}, {"default", "45.0"}, {"description", "Seconds to add (up to 85), as a string."}}},
		{"side", pEnum("Which end to extend.", "right", "right", "left")},
		{"output_format", outputFormat},
	}}
	epV7SongInpaint = &endpoint{"7", "voice", "song-inpaint", object{
		{"init_audio", pURL("URL of the song to change.")},
		{"prompt", pText("What the new section is.")},
		{"lyrics", pText("The new lyrics.")},
		{"sections", object{{"type", "array"}, {"items", object{{"type", "object"}}}, {"description", "The sections to rewrite (start, end in seconds)."}}},
		{"output_format", outputFormat},
	}}
)

// catalogue is every model discovery knows, in listing order: ModelsLab's
// own on v6 and the unified ones on v7.
var catalogue = []catModel{
	{id: "flux", name: "Flux", provider: "modelslab", feature: "imagen", modelType: "text-to-image", sub: "flux", ep: epV6Text2Img,
		desc: "FLUX.1 [dev] on ModelsLab's text2img: sharp images with readable typography.", tags: []string{"text-to-image", "flux", "typography"}},
	{id: "sdxl", name: "Stable Diffusion XL", provider: "modelslab", feature: "imagen", modelType: "text-to-image", sub: "stable-diffusion", ep: epV6Text2Img,
		desc: "Stable Diffusion XL 1.0, the community workhorse for text to image at 1024 pixels.", tags: []string{"text-to-image", "sdxl", "community"}},
	{id: "midjourney", name: "MidJourney V4", provider: "modelslab", feature: "imagen", modelType: "text-to-image", sub: "community", ep: epV6Text2Img,
		desc: "A community model in the style of MidJourney V4 for painterly art.", tags: []string{"text-to-image", "art", "community"}},
	{id: "flux-2-dev", name: "Flux 2 Dev", provider: "modelslab", feature: "imagen", modelType: "text-to-image", sub: "flux", ep: epV6Text2Img,
		desc: "FLUX.2 [dev] open weights, served by the v6 text2img endpoint.", tags: []string{"text-to-image", "flux", "open-weights"}},
	{id: "wan2.2", name: "Wan 2.2", provider: "alibaba_cloud", feature: "video_fusion", modelType: "text-to-video", sub: "wan", ep: epV6Text2Video,
		desc: "Wan 2.2 by Alibaba: open text to video at 480p or 720p on the v6 video API.", tags: []string{"text-to-video", "wan", "open-weights"}},
	{id: "ltx-2.3", name: "LTX 2.3", provider: "lightricks", feature: "video_fusion", modelType: "text-to-video", sub: "ltx", ep: epV6Text2Video,
		desc: "LTX 2.3 by Lightricks: fast text to video on the v6 video API.", tags: []string{"text-to-video", "ltx", "fast"}},

	{id: "seedream-4", name: "Seedream 4.0", provider: "byteplus", feature: "imagen", modelType: "text-to-image", sub: "seedream", ep: epV7T2I,
		desc: "ByteDance Seedream 4.0: 4K text to image with strong prompt following.", tags: []string{"text-to-image", "seedream", "4k"},
		required: []string{"aspect_ratio"}, props: object{{"aspect_ratio", aspect3}}},
	{id: "seedream-4.5", name: "Seedream 4.5", provider: "byteplus", feature: "imagen", modelType: "text-to-image", sub: "seedream", ep: epV7T2I,
		desc: "ByteDance Seedream 4.5: sharper detail and typography than 4.0.", tags: []string{"text-to-image", "seedream", "4k"},
		required: []string{"aspect_ratio"}, props: object{{"aspect_ratio", aspect3}}},
	{id: "imagen-4", name: "Imagen 4", provider: "google", feature: "imagen", modelType: "text-to-image", sub: "imagen", ep: epV7T2I,
		desc: "Google Imagen 4: photoreal text to image with fine detail and good text rendering.", tags: []string{"text-to-image", "imagen", "photoreal"},
		required: []string{"aspect_ratio"}, props: object{{"aspect_ratio", aspect3}}},
	{id: "flux-2-pro", name: "Flux 2 Pro", provider: "bfl", feature: "imagen", modelType: "text-to-image", sub: "flux", ep: epV7T2I,
		desc: "FLUX.2 [pro] from Black Forest Labs: photoreal text to image at an exact width and height.", tags: []string{"text-to-image", "flux", "photoreal"},
		required: []string{"width", "height"}},
	{id: "nano-banana", name: "Nano Banana", provider: "google", feature: "imagen", modelType: "image-to-image", sub: "gemini", ep: epV7I2I,
		desc: "Gemini 2.5 Flash Image (Nano Banana): blend and edit up to two images with a prompt.", tags: []string{"image-to-image", "edit", "gemini"},
		props: object{{"init_image_2", pURL("URL of a second image to blend in.")}}},
	{id: "flux-kontext-pro", name: "Flux Kontext Pro", provider: "bfl", feature: "imagen", modelType: "image-to-image", sub: "flux", ep: epV7I2I,
		desc: "FLUX.1 Kontext [pro]: edit an image with a text instruction, keeping characters consistent.", tags: []string{"image-to-image", "edit", "flux"}},

	{id: "kling-v2-1-i2v", name: "Kling V2.1 Image to Video", provider: "klingai", feature: "video_fusion", modelType: "image-to-video", sub: "kling", ep: epV7I2V,
		desc: "Kling V2.1: animate a still image into a 5 or 10 second clip.", tags: []string{"image-to-video", "kling"},
		props: object{{"duration", pEnum("Length in seconds, as a string.", "5", "5", "10")}}},
	{id: "Hailuo-2.3-i2v", name: "Hailuo 2.3 Image to Video", provider: "minimax", feature: "video_fusion", modelType: "image-to-video", sub: "hailuo", ep: epV7I2V,
		desc: "MiniMax Hailuo 2.3: image to video with realistic motion and physics.", tags: []string{"image-to-video", "hailuo"},
		props: object{{"duration", pEnum("Length in seconds, as a string.", "6", "6", "10")}}},
	{id: "seedance-t2v", name: "Seedance Text to Video", provider: "byteplus", feature: "video_fusion", modelType: "text-to-video", sub: "seedance", ep: epV7T2V,
		desc: "ByteDance Seedance: text to video with multi-shot storytelling.", tags: []string{"text-to-video", "seedance"}},
	{id: "sora-2", name: "Sora 2", provider: "openai", feature: "video_fusion", modelType: "text-to-video", sub: "sora", ep: epV7T2V,
		desc: "OpenAI Sora 2: text to video with synchronized dialogue and sound effects.", tags: []string{"text-to-video", "sora", "audio"},
		props: object{{"duration", pEnum("Length in seconds, as a string.", "4", "4", "8", "12")}}},
	{id: "veo-3.1-fast", name: "Veo 3.1 Fast", provider: "google", feature: "video_fusion", modelType: "text-to-video", sub: "veo", ep: epV7T2V,
		desc: "Google Veo 3.1 Fast: text to video with native audio.", tags: []string{"text-to-video", "veo", "audio"},
		props: object{
			{"duration", pEnum("Length in seconds, as a string.", "8", "4", "6", "8")},
			{"generate_audio", pBool("Generate a sound track.", true)},
		}},
	{id: "gen4_aleph", name: "Gen-4 Aleph", provider: "runway_ml", feature: "video_fusion", modelType: "video-to-video", sub: "gen4", ep: epV7V2V,
		desc: "Runway Gen-4 Aleph: edit a video with a prompt - restyle, relight, change the weather.", tags: []string{"video-to-video", "edit", "runway"},
		required: []string{"aspect_ratio"}, props: object{{"aspect_ratio", pEnum("Aspect ratio of the video.", "1280:720", "1280:720", "720:1280", "960:960")}}},
	{id: "lipsync-2", name: "Lipsync 2", provider: "sync", feature: "video_fusion", modelType: "lip-sync", sub: "lipsync", ep: epV7LipSync,
		desc: "Sync Labs lipsync-2: match the lips of a video to a new audio track.", tags: []string{"lip-sync", "dubbing"}},
	{id: "kling-motion-control", name: "Kling Motion Control", provider: "klingai", feature: "video_fusion", modelType: "motion-control", sub: "kling", ep: epV7Motion,
		desc: "Kling Motion Control: make the character of an image copy the moves of a reference video.", tags: []string{"motion-control", "kling"}},

	{id: "eleven_multilingual_v2", name: "Eleven Multilingual v2", provider: "elevenlabs", feature: "audio_gen", modelType: "text-to-speech", sub: "elevenlabs", ep: epV7TTS,
		desc: "ElevenLabs Multilingual v2: lifelike text to speech in 29 languages.", tags: []string{"text-to-speech", "multilingual"}},
	{id: "scribe_v1", name: "Scribe v1", provider: "elevenlabs", feature: "audio_gen", modelType: "speech-to-text", sub: "elevenlabs", ep: epV7STT,
		desc: "ElevenLabs Scribe v1: speech to text transcription in 99 languages.", tags: []string{"speech-to-text", "transcription"}},
	{id: "eleven_english_sts_v2", name: "Eleven English STS v2", provider: "elevenlabs", feature: "audio_gen", modelType: "speech-to-speech", sub: "elevenlabs", ep: epV7STS,
		desc: "ElevenLabs speech to speech: say it in another voice, keeping the delivery.", tags: []string{"speech-to-speech", "voice-changer"}},
	{id: "eleven_sound_effect", name: "Eleven Sound Effects", provider: "elevenlabs", feature: "audio_gen", modelType: "sound-generation", sub: "elevenlabs", ep: epV7SFX,
		desc: "ElevenLabs Sound Effects: sound effects from a text prompt, up to 22 seconds.", tags: []string{"sound-generation", "sfx"}},
	{id: "music_v1", name: "Eleven Music v1", provider: "elevenlabs", feature: "audio_gen", modelType: "music-gen", sub: "elevenlabs", ep: epV7Music,
		desc: "ElevenLabs Music v1: studio-grade music with vocals from a prompt.", tags: []string{"music-gen", "vocals"}},
	{id: "sonauto_song", name: "Sonauto Song", provider: "sonauto", feature: "audio_gen", modelType: "music-gen", sub: "sonauto", ep: epV7Music,
		desc: "Sonauto: full songs with vocals from a description.", tags: []string{"music-gen", "song"}},
	{id: "song-extender", name: "Song Extender", provider: "sonauto", feature: "audio_gen", modelType: "song-extender", sub: "sonauto", ep: epV7SongExtend,
		desc: "Sonauto Song Extender: continue a song to the right or left by up to 85 seconds.", tags: []string{"song-extender", "song"}},
	{id: "song-inpaint", name: "Song Inpaint", provider: "sonauto", feature: "audio_gen", modelType: "song-inpaint", sub: "sonauto", ep: epV7SongInpaint,
		desc: "Sonauto Song Inpaint: rewrite a section of a song - lyrics & melody - keeping the rest.", tags: []string{"song-inpaint", "song"}},
}

// item is m as a list entry; base is the server's URL.
func (m *catModel) item(base string) object {
	return object{
		{"model_id", m.id},
		{"model_name", m.name},
		{"provider", m.provider},
		{"feature", m.feature},
		{"model_type", m.modelType},
		{"model_subcategory", m.sub},
		{"description", m.desc},
		{"status", "model_ready"},
		{"api_endpoint", base + m.ep.path()},
		{"tags", m.tags},
	}
}

// detail is m's item with its endpoint configuration: the JSON Schema of
// its parameters.
func (m *catModel) detail(base string) object {
	props := object{{"model_id", object{{"type", "string"}, {"enum", []string{m.id}}, {"default", m.id}, {"description", "The model to run."}}}}
	props = append(props, m.ep.props...)
	for _, p := range m.props {
		if i := slices.IndexFunc(props, func(f field) bool { return f.k == p.k }); i >= 0 {
			props[i] = p
		} else {
			props = append(props, p)
		}
	}
	props = append(props,
		field{"webhook", pURL("URL to POST the result to when the job ends.")},
		field{"track_id", pText("Your id for the job, sent back in the webhook.")},
	)
	required := append(m.ep.required(), m.required...)
	return append(m.item(base), field{"endpoint_configurations", []object{{
		{"name", m.ep.op},
		{"url", base + m.ep.path()},
		{"method", "POST"},
		{"parameters", object{{"type", "object"}, {"required", required}, {"properties", props}}},
	}}})
}

// matches tells whether m passes the filters: search in model_id,
// model_name and description (case-insensitive substring), the others
// equal (case-insensitive); empty filters pass everything.
func (m *catModel) matches(search, feature, provider, modelType string) bool {
	if q := strings.ToLower(strings.TrimSpace(search)); q != "" &&
		!strings.Contains(strings.ToLower(m.id), q) &&
		!strings.Contains(strings.ToLower(m.name), q) &&
		!strings.Contains(strings.ToLower(m.desc), q) {
		return false
	}
	eq := func(filter, v string) bool {
		f := strings.TrimSpace(filter)
		return f == "" || strings.EqualFold(f, v)
	}
	return eq(feature, m.feature) && eq(provider, m.provider) && eq(modelType, m.modelType)
}

// envelope writes the agents API's envelope.
func (s *Server) envelope(w http.ResponseWriter, status int, data, errObj any, meta object) {
	s.mu.Lock()
	s.nextReqID++
	n := s.nextReqID
	s.mu.Unlock()
	meta = append(object{{"request_id", fmt.Sprintf("5a4db0c1-5b0c-4d1e-8000-%012d", n)}}, meta...)
	writePHP(w, status, object{{"data", data}, {"error", errObj}, {"meta", meta}})
}

func (s *Server) envelopeError(w http.ResponseWriter, status int, code, msg string, details any) {
	e := object{{"code", code}, {"message", msg}}
	if details != nil {
		e = append(e, field{"details", details})
	}
	s.envelope(w, status, nil, e, nil)
}

// modelsRoute answers model discovery: GET /api/v7/models, GET
// /api/v6/model-search and GET /api/v6/model-search/{model_id}.
func (s *Server) modelsRoute(w http.ResponseWriter, r *http.Request) string {
	p := strings.TrimSuffix(r.URL.Path, "/")
	detailID, isDetail := strings.CutPrefix(p, modelSearchV6+"/")
	s.mu.Lock()
	if isDetail {
		s.stats.ModelDetails++
	} else {
		s.stats.ModelLists++
	}
	s.mu.Unlock()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.envelopeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed, use GET", nil)
		return ""
	}
	q := r.URL.Query()
	if k := q.Get("key"); k == "" || (s.opts.Key != "" && k != s.opts.Key) {
		s.envelopeError(w, http.StatusUnauthorized, "unauthenticated", "Invalid API key", nil)
		return "bad key"
	}
	base := baseURL(r)
	if isDetail {
		for i := range catalogue {
			if m := &catalogue[i]; m.id == detailID {
				s.envelope(w, http.StatusOK, m.detail(base), nil, nil)
				return "model " + detailID
			}
		}
		s.envelopeError(w, http.StatusNotFound, "not_found", "Model not found", nil)
		return "unknown model"
	}
	items := []object{}
	for i := range catalogue {
		if m := &catalogue[i]; m.matches(q.Get("search"), q.Get("feature"), q.Get("provider"), q.Get("model_type")) {
			items = append(items, m.item(base))
		}
	}
	total := len(items)
	if p == modelsV7Path {
		s.envelope(w, http.StatusOK, object{{"items", items}}, nil, object{{"total", total}})
		return fmt.Sprintf("%d models", total)
	}
	perPage, ok1 := pageParam(q.Get("per_page"), defaultPerPage, maxPerPage)
	page, ok2 := pageParam(q.Get("page"), 1, 1<<30)
	if !ok1 || !ok2 {
		f, msg := "per_page", fmt.Sprintf("The per page field must be an integer between 1 and %d.", maxPerPage)
		if ok1 {
			f, msg = "page", "The page field must be an integer of at least 1."
		}
		s.envelopeError(w, http.StatusUnprocessableEntity, "validation_error", msg, object{{f, []string{msg}}})
		return "bad " + f
	}
	from := min((page-1)*perPage, total)
	s.envelope(w, http.StatusOK, items[from:min(from+perPage, total)], nil, object{{"total", total}})
	return fmt.Sprintf("%d models", total)
}

// pageParam reads a positive integer query value at most hi; "" is def.
func pageParam(v string, def, hi int) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > hi {
		return 0, false
	}
	return n, true
}
