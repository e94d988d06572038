package models

import "strings"

// SeedRow is one model the built-in table knows: the API generation it is
// served by, who makes it and the operations ("images/text-to-image",
// "video/img2video") it is documented on, first the main one. Paths are
// relative to /api/<API>/.
type SeedRow struct {
	ID       string
	API      string
	Provider string
	Paths    []string
}

// Path families of the seed.
const (
	v7T2I    = "images/text-to-image"
	v7I2I    = "images/image-to-image"
	v7T2V    = "video-fusion/text-to-video"
	v7I2V    = "video-fusion/image-to-video"
	v7V2V    = "video-fusion/video-to-video"
	v7Lip    = "video-fusion/lip-sync"
	v7Motion = "video-fusion/motion-control"
	v7TTS    = "voice/text-to-speech"
	v7STT    = "voice/speech-to-text"
	v7STS    = "voice/speech-to-speech"
	v7SFX    = "voice/sound-generation"
	v7Music  = "voice/music-gen"
	v7Extend = "voice/song-extender"
	v7Inpt   = "voice/song-inpaint"
	v7Chat   = "llm/chat/completions"

	v6T2I     = "images/text2img"
	v6T2V     = "video/text2video"
	v6I2V     = "video/img2video"
	v6T2VUltr = "video/text2video_ultra"
	v6I2VUltr = "video/img2video_ultra"
)

// seed is every model id named in the team's API notes (modelslab-v7.md
// §1a/§1b/§2/§3 and modelslab-api.md §3): the v7 ones from the official
// SDK providers, model pages and skills; the v6 ones ModelsLab serves
// itself (community models, flux, the bfl flux-pro family that the Python
// SDK routes to v6, wan2.2/ltx-2.3/svd video). Model ids are
// case-sensitive and mixed ("Kling-V2-5-Turbo-i2v").
var seed = []SeedRow{
	// v7 images/text-to-image
	{"flux-2-pro", APIv7, "bfl", []string{v7T2I, v7I2I}},
	{"seedream-t2i", APIv7, "byteplus", []string{v7T2I}},
	{"seedream-4", APIv7, "byteplus", []string{v7T2I}},
	{"seedream-4.5", APIv7, "byteplus", []string{v7T2I}},
	{"imagen-3", APIv7, "google", []string{v7T2I}},
	{"imagen-4", APIv7, "google", []string{v7T2I}},
	{"imagen-4.0-fast-generate", APIv7, "google", []string{v7T2I}},
	{"imagen-4.0-ultra", APIv7, "google", []string{v7T2I}},
	{"nano-banana-t2i", APIv7, "google", []string{v7T2I}},
	{"nano-banana-pro", APIv7, "google", []string{v7T2I, v7I2I}},
	{"gen4_image", APIv7, "runway", []string{v7T2I}},
	// v7 images/image-to-image
	{"flux-kontext-pro", APIv7, "bfl", []string{v7I2I}},
	{"seededit-i2i", APIv7, "byteplus", []string{v7I2I}},
	{"seedream-4.0-i2i", APIv7, "byteplus", []string{v7I2I}},
	{"seedream-4.5-i2i", APIv7, "byteplus", []string{v7I2I}},
	{"nano-banana", APIv7, "google", []string{v7I2I}},
	{"gen4_image_turbo", APIv7, "runway", []string{v7I2I}},
	// v7 video-fusion/text-to-video
	{"Hailuo-2.3-t2v", APIv7, "minimax", []string{v7T2V}},
	{"Hailuo-02-t2v", APIv7, "minimax", []string{v7T2V}},
	{"kling-v2-5-turbo-t2v", APIv7, "kling", []string{v7T2V}},
	{"kling-v2-master-t2v", APIv7, "kling", []string{v7T2V}},
	{"kling-v2-1-master-t2v", APIv7, "kling", []string{v7T2V}},
	{"seedance-t2v", APIv7, "byteplus", []string{v7T2V}},
	{"seedance-1.0-pro-fast-t2v", APIv7, "byteplus", []string{v7T2V}},
	{"sora-2", APIv7, "openai", []string{v7T2V}},
	{"wan2.5-t2v", APIv7, "alibaba", []string{v7T2V}},
	{"veo2", APIv7, "google", []string{v7T2V}},
	{"veo-3.1-fast", APIv7, "google", []string{v7T2V}},
	{"gen4_turbo", APIv7, "runway", []string{v7T2V}},
	// v7 video-fusion/image-to-video
	{"Hailuo-2.3-i2v", APIv7, "minimax", []string{v7I2V}},
	{"Hailuo-2.3-Fast-i2v", APIv7, "minimax", []string{v7I2V}},
	{"Hailuo-02-i2v", APIv7, "minimax", []string{v7I2V}},
	{"Hailuo-02-start-end-frame", APIv7, "minimax", []string{v7I2V}},
	{"kling-v2-1-i2v", APIv7, "kling", []string{v7I2V}},
	{"Kling-V2-5-Turbo-i2v", APIv7, "kling", []string{v7I2V}},
	{"kling-v2-master-i2v", APIv7, "kling", []string{v7I2V}},
	{"kling-v2-1-master-i2v", APIv7, "kling", []string{v7I2V}},
	{"kling-v1-6", APIv7, "kling", []string{v7I2V}},
	{"seedance-i2v", APIv7, "byteplus", []string{v7I2V}},
	{"seedance-1.0-pro-i2v", APIv7, "byteplus", []string{v7I2V}},
	{"seedance-1.0-pro-fast-i2v", APIv7, "byteplus", []string{v7I2V}},
	{"omni-human", APIv7, "byteplus", []string{v7I2V}},
	{"omni-human-1.5", APIv7, "byteplus", []string{v7I2V}},
	{"wan2.5-i2v", APIv7, "alibaba", []string{v7I2V}},
	{"wan2.6-i2v-flash", APIv7, "alibaba", []string{v7I2V}},
	// v7 video-fusion, other operations
	{"gen4_aleph", APIv7, "runway", []string{v7V2V}},
	{"lipsync-2", APIv7, "sync", []string{v7Lip}},
	{"kling-motion-control", APIv7, "kling", []string{v7Motion}},
	// v7 voice
	{"eleven_multilingual_v2", APIv7, "elevenlabs", []string{v7TTS}},
	{"inworld-tts-1", APIv7, "inworld", []string{v7TTS}},
	{"scribe_v1", APIv7, "elevenlabs", []string{v7STT}},
	{"eleven_english_sts_v2", APIv7, "elevenlabs", []string{v7STS}},
	{"eleven_sound_effect", APIv7, "elevenlabs", []string{v7SFX}},
	{"music_v1", APIv7, "elevenlabs", []string{v7Music}},
	{"sonauto_song", APIv7, "sonauto", []string{v7Music}},
	{"song-extender", APIv7, "sonauto", []string{v7Extend}},
	{"song-inpaint", APIv7, "sonauto", []string{v7Inpt}},
	// v7 LLM (the example of /api/v7/llm/v1/models)
	{"Qwen/Qwen2.5-VL-72B-Instruct-together", APIv7, "Qwen", []string{v7Chat}},

	// v6 images/text2img
	{"flux", APIv6, "modelslab", []string{v6T2I}},
	{"sdxl", APIv6, "modelslab", []string{v6T2I}},
	{"midjourney", APIv6, "modelslab", []string{v6T2I}},
	{"realistic-vision-v6", APIv6, "modelslab", []string{v6T2I}},
	{"realistic-vision-51", APIv6, "modelslab", []string{v6T2I}},
	{"z-image-turbo", APIv6, "modelslab", []string{v6T2I}},
	{"flux-2-dev", APIv6, "modelslab", []string{v6T2I}},
	{"flux-pro-1.1", APIv6, "bfl", []string{v6T2I}},
	{"flux-pro-1.1-ultra", APIv6, "bfl", []string{v6T2I}},
	{"flux-pro-1752000026", APIv6, "bfl", []string{v6T2I}},
	// v6 video
	{"wan2.2", APIv6, "modelslab", []string{v6T2V, v6I2V, v6T2VUltr, v6I2VUltr}},
	{"ltx-2.3", APIv6, "modelslab", []string{v6T2V, v6T2VUltr}},
	{"svd", APIv6, "modelslab", []string{v6I2V}},
	{"cogvideox", APIv6, "modelslab", []string{v6T2V}},
}

// seedPrefixes route whole families of ids that the notes name only as a
// family ("v6 … required by h3-minimax and wan2.2 model families", a
// third-party guide; low confidence). Exact ids win over these.
var seedPrefixes = []struct{ prefix, api string }{
	{"h3-minimax", APIv6},
	{"wan2.2-", APIv6},
}

// featureOf maps a seed path to the feature word the model-search API
// uses for it.
func featureOf(path string) string {
	switch {
	case strings.HasPrefix(path, "images/"):
		return "imagen"
	case strings.HasPrefix(path, "video-fusion/"), strings.HasPrefix(path, "video/"):
		return "video_fusion"
	case strings.HasPrefix(path, "voice/"):
		return "audio_gen"
	case strings.HasPrefix(path, "llm/"):
		return "llmaster"
	}
	return ""
}

// Seed returns a copy of the built-in table.
func Seed() []SeedRow {
	out := make([]SeedRow, len(seed))
	for i, r := range seed {
		r.Paths = append([]string(nil), r.Paths...)
		out[i] = r
	}
	return out
}

// model returns r as a Model: Endpoint is the main path
// ("/api/v7/images/text-to-image"), Feature its family word.
func (r SeedRow) model() Model {
	m := Model{ID: r.ID, Provider: r.Provider, API: r.API}
	if len(r.Paths) > 0 {
		m.Endpoint = "/api/" + r.API + "/" + r.Paths[0]
		m.Feature = featureOf(r.Paths[0])
	}
	return m
}

// Known returns the built-in table as Models, with API, Provider, Feature
// and Endpoint (the main submit path) set, in table order.
func Known() []Model {
	out := make([]Model, len(seed))
	for i, r := range seed {
		out[i] = r.model()
	}
	return out
}
