package cmd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
)

// The job commands other than img (img.go), declared as specs over the
// endpoint catalogue (see jobcmd.go).

var videoSpec = &jobSpec{
	use:   "video [PROMPT]",
	short: "Video: text to video, image to video (--init-image), ultra quality (--ultra)",
	long: `Generate a video. text2video by default; img2video with --init-image;
text2video_ultra / img2video_ultra with --ultra; video to video with
--init-video (v7, gen4_aleph unless --model says otherwise). Video jobs run
for minutes: on a terminal the progress line shows elapsed time against the
API's eta and keeps going when the eta was wrong.

The model picks the API: wan2.2, ltx-2.3, svd ... run on v6; kling-*,
Hailuo-*, seedance-*, sora-2, veo-*, wan2.5-* ... on the v7 unified API
(/api/v7/video-fusion/...). Many v7 models need --duration (sent as a
string, e.g. "5"), --aspect-ratio or --resolution (e.g. 720p); other fields
go in with -F. --api v6|v7 forces the API (mlab help models).`,
	example: `  $ mlab video "a space station orbiting earth, cinematic" --wait -o out/
  $ mlab video "slow pan" --init-image ./still.png --ultra --resolution 720 --wait -o out/
  $ mlab video "a cat" --output-type gif --num-frames 25 --wait --json
  $ mlab video "the cat walks to the window" --model kling-v2-1-i2v --init-image cat.png --duration 5 --wait -o out/
  $ mlab video "make it winter" --init-video clip.mp4 --aspect-ratio 1280:720 --wait -o out/`,
	argField: "prompt", argName: "PROMPT", argOptional: true,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "model", short: "m", field: "model_id", def: "wan2.2", usage: "model_id (wan2.2, ltx-2.3, svd, ...)"},
		qNegPrompt,
		{flag: "init-image", field: "init_image", usage: "input image: URL or local file (img2video)"},
		{flag: "ultra", usage: "use the ultra endpoints (text2video_ultra / img2video_ultra)", kind: kBool},
		qWidth,
		qHeight,
		{flag: "num-frames", field: "num_frames", kind: kInt, positive: true, usage: "number of frames"},
		{flag: "fps", field: "fps", kind: kInt, positive: true, usage: "frames per second"},
		{flag: "resolution", field: "resolution", usage: "resolution (v6 ultra: 480, 720; v7: e.g. 720p)"},
		{flag: "init-video", field: "init_video", usage: "input video: URL or local file (video to video, v7)"},
		{flag: "aspect-ratio", field: "aspect_ratio", usage: "aspect_ratio, e.g. 16:9 (v7)"},
		qDuration,
		qSteps,
		qGuidance,
		{flag: "output-type", field: "output_type", usage: "output file type", choices: []string{"mp4", "gif"}},
		{flag: "portrait", field: "portrait", kind: kBool, usage: "portrait orientation (ultra)"},
		qSeed,
	},
	endpoint: func(o *JobCmdOptions) (string, error) {
		if o.set("init-video") {
			return "", flagErrorf("video to video (--init-video) runs on v7 only: drop --api v6")
		}
		name := "text2video"
		if o.set("init-image") {
			name = "img2video"
		}
		if o.value("ultra") == "true" {
			name += "_ultra"
		}
		return name, nil
	},
	v7: func(o *JobCmdOptions) (string, error) {
		switch {
		case o.value("ultra") == "true":
			return "", flagErrorf("--ultra names v6 endpoints: drop --api v7 (or the v7 model)")
		case o.set("init-video"):
			return "v7_video_to_video", nil
		case o.set("init-image"):
			return "v7_image_to_video", nil
		}
		return "v7_text_to_video", nil
	},
	flagCheck: func(o *JobCmdOptions) error {
		if o.set("init-video") && o.value("ultra") == "true" {
			return flagErrorf("--ultra (v6 text2video_ultra / img2video_ultra) and --init-video (video to video, v7 only) do not go together")
		}
		return nil
	},
	prefer: func(o *JobCmdOptions) (string, string) {
		if o.set("init-video") {
			return "v7", "--init-video: video to video runs on v7"
		}
		return "", ""
	},
	adjust: func(o *JobCmdOptions, ep api.Endpoint, body map[string]any) {
		if ep.Version() == "v7" {
			if _, ok := body["model_id"]; !ok && ep.Name == "v7_video_to_video" {
				body["model_id"] = "gen4_aleph"
			}
			if d, ok := body["duration"].(float64); ok {
				body["duration"] = strconv.FormatFloat(d, 'f', -1, 64) // v7 takes it as text
			}
			return
		}
		numbersOnV6(body, "resolution", "duration")
	},
	validate: func(o *JobCmdOptions) error {
		if o.Arg == "" && !o.set("init-image") {
			return flagErrorf("mlab video needs a PROMPT (or --init-image)")
		}
		return nil
	},
}

// numbersOnV6 turns the whole-number text of fields (flags that v7 takes
// as strings) into numbers, as v6 expects them.
func numbersOnV6(body map[string]any, fields ...string) {
	for _, k := range fields {
		if s, ok := body[k].(string); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				body[k] = n
			}
		}
	}
}

var ttsSpec = &jobSpec{
	use:   "tts TEXT",
	short: "Audio: text to speech",
	long: `Turn text (up to 2,500 characters) into speech with text_to_speech. The text
goes in the request's prompt field.

With a v7 voice model (--model eleven_multilingual_v2, inworld-tts-1) the job
goes to /api/v7/voice/text-to-speech, which needs --voice-id (the v6 defaults
of --voice-id and --language are not sent there).`,
	example: `  $ mlab tts "Build next-generation AI products" --voice-id madison --wait -o out/
  $ mlab tts "$(cat script.txt)" --language "british english" --speed 1.2 --wait --json
  $ mlab tts "Hello there" --model eleven_multilingual_v2 --voice-id 21m00Tcm4TlvDq8ikWAM --wait -o out/`,
	argField: "prompt", argName: "TEXT",
	flags: []fieldFlag{
		{flag: "voice-id", field: "voice_id", def: "madison", usage: "voice_id"},
		{flag: "language", field: "language", def: "american english", usage: "language"},
		{flag: "speed", field: "speed", kind: kFloat, usage: "speaking speed (1 = normal)"},
		{flag: "emotion", field: "emotion", kind: kBool, usage: "expressive speech"},
		{flag: "model", short: "m", field: "model_id", usage: "model_id (v7: eleven_multilingual_v2, inworld-tts-1)"},
	},
	endpoint: fixed("text_to_speech"),
	v7:       fixed("v7_text_to_speech"),
	validate: func(o *JobCmdOptions) error {
		if n := len([]rune(o.Arg)); n > 2500 {
			return flagErrorf("the text is %d characters; text_to_speech takes at most 2500 (split it)", n)
		}
		return nil
	},
}

var voiceConvertSpec = &jobSpec{
	use:   "voice-convert",
	short: "Audio: make one recording speak with another voice (voice_to_voice)",
	long: `Convert the voice of --init-audio to the voice of --target-audio (each up to
30 s) with voice_to_voice. Both take a URL or a local file (uploaded first).
With a v7 model (--model eleven_english_sts_v2) the job goes to
/api/v7/voice/speech-to-speech and the voice is --voice-id instead.`,
	example: `  $ mlab voice-convert --init-audio speech.wav --target-audio voice.mp3 --wait -o out/
  $ mlab voice-convert --init-audio speech.wav --model eleven_english_sts_v2 --voice-id 21m00Tcm4TlvDq8ikWAM --wait -o out/`,
	flags: []fieldFlag{
		{flag: "init-audio", field: "init_audio", usage: "the speech to convert: URL or local file"},
		{flag: "target-audio", field: "target_audio", usage: "the voice to use: URL or local file (v6)"},
		{flag: "voice-id", field: "voice_id", usage: "the voice to use (v7)"},
		{flag: "model", short: "m", field: "model_id", usage: "model_id (v7: eleven_english_sts_v2)"},
	},
	endpoint: fixed("voice_to_voice"),
	v7:       fixed("v7_speech_to_speech"),
	validate: func(o *JobCmdOptions) error {
		v, _, err := o.route()
		if err != nil {
			return err
		}
		if v == "v7" {
			if !o.set("init-audio") || !o.set("voice-id") {
				return flagErrorf("mlab voice-convert on v7 needs --init-audio and --voice-id")
			}
			return nil
		}
		if !o.set("init-audio") || !o.set("target-audio") {
			return flagErrorf("mlab voice-convert needs --init-audio and --target-audio")
		}
		return nil
	},
}

var musicSpec = &jobSpec{
	use:   "music PROMPT",
	short: "Audio: generate music from a description (music_gen)",
	long: `Generate instrumental music from a text description with music_gen. With a
v7 model (--model music_v1, sonauto_song) the job goes to
/api/v7/voice/music-gen.`,
	example: `  $ mlab music "marimba, tropical house, 96 bpm" --duration 60 --output-format mp3 --wait -o out/
  $ mlab music "an upbeat afrobeat song" --model sonauto_song --wait -o out/`,
	argField: "prompt", argName: "PROMPT",
	flags: []fieldFlag{
		qDuration,
		{flag: "output-format", field: "output_format", usage: "audio format", choices: []string{"wav", "mp3", "flac"}},
		{flag: "bitrate", field: "bitrate", usage: "bitrate, e.g. 320k"},
		{flag: "init-audio", field: "init_audio", usage: "a reference track: URL or local file"},
		{flag: "model", short: "m", field: "model_id", usage: "model_id (v7: music_v1, sonauto_song)"},
	},
	endpoint: fixed("music_gen"),
	v7:       fixed("v7_music_gen"),
}

var songSpec = &jobSpec{
	use:   "song [PROMPT]",
	short: "Audio: generate a song with vocals from lyrics (song_generator)",
	long: `Generate a song with song_generator, either from your lyrics (--lyrics FILE, in
LRC or [Verse]/[Chorus] form) or from a description with lyrics written for
you (--lyrics-generation PROMPT).`,
	example: `  $ mlab song --lyrics lyrics.txt --caption "female vocal, reggaeton" --wait -o out/
  $ mlab song "a Cantopop track about the sea" --lyrics-generation --duration 180 --wait -o out/`,
	argField: "prompt", argName: "PROMPT", argOptional: true,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "lyrics", field: "lyrics", kind: kFile, usage: "read the lyrics from `FILE`"},
		{flag: "lyrics-generation", field: "lyrics_generation", kind: kBool, usage: "write lyrics from PROMPT"},
		{flag: "caption", field: "caption", usage: "style: voice, genre, instruments"},
		qDuration,
		{flag: "language", field: "language", usage: "language of the vocals"},
		{flag: "instrumental", field: "instrumental", kind: kBool, usage: "no vocals"},
	},
	endpoint: fixed("song_generator"),
	validate: func(o *JobCmdOptions) error {
		lyrics, gen := o.set("lyrics"), o.value("lyrics-generation") == "true"
		switch {
		case lyrics && gen:
			return flagErrorf("use either --lyrics FILE or --lyrics-generation, not both")
		case !lyrics && !gen:
			return flagErrorf("mlab song needs --lyrics FILE, or --lyrics-generation with a PROMPT")
		case gen && o.Arg == "":
			return flagErrorf("--lyrics-generation needs a PROMPT describing the song")
		}
		return nil
	},
}

var threeDSpec = &jobSpec{
	use:   "3d [PROMPT]",
	short: "3D: text to 3D model, image to 3D model (--init-image)",
	long:  `Generate a 3D model: text_to_3d from a PROMPT, image_to_3d with --init-image.`,
	example: `  $ mlab 3d "a ghost wearing a white bedsheet" --output-format glb --wait -o out/
  $ mlab 3d --init-image chair.jpg --output-format obj --wait -o out/`,
	argField: "prompt", argName: "PROMPT", argOptional: true,
	flags: []fieldFlag{
		{flag: "init-image", field: "init_image", usage: "input image: URL or local file (image_to_3d)"},
		{flag: "output-format", field: "output_format", usage: "model format", choices: []string{"glb", "obj", "stl", "ply"}},
		{flag: "resolution", field: "resolution", usage: "resolution, e.g. 512"},
		qSeed,
		qSteps,
		qGuidance,
		{flag: "remove-bg", field: "remove_bg", kind: kBool, usage: "remove the input's background"},
	},
	endpoint: func(o *JobCmdOptions) (string, error) {
		if o.set("init-image") {
			return "image_to_3d", nil
		}
		return "text_to_3d", nil
	},
	adjust:   func(o *JobCmdOptions, ep api.Endpoint, body map[string]any) { numbersOnV6(body, "resolution") },
	validate: needsPromptOrImage("3d"),
}

var trainSpec = &jobSpec{
	use:   "train",
	short: "Fine-tune a model on your images (LoRA, or DreamBooth with --dreambooth)",
	long: `Train a model on your images: lora_fine_tune by default, fine_tune (DreamBooth)
with --dreambooth. --images takes URLs or local files (uploaded first);
repeat it or separate with commas.

With --wait, the training stages (deploying_gpu ... model_ready) are shown on
stderr as they come, and the trained model's id is printed on stdout; use it
as --model in later jobs. A failed training exits 1 with the API's logs.`,
	example: `  $ mlab train --images a.jpg,b.jpg,c.jpg,d.jpg --instance-prompt "photo of ambika0 man" \
      --class-prompt "photo of a man" --base-model sdxl --wait
  $ mlab train --dreambooth --base-model midjourney --images https://.../1.png ... --instance-prompt "..." --wait --json`,
	timeout: 3 * time.Hour,
	flags: []fieldFlag{
		{flag: "images", kind: kStrings, field: "images", usage: "training images: URLs or local files"},
		{flag: "instance-prompt", field: "instance_prompt", usage: "prompt with your subject's token, e.g. \"photo of ambika0 man\""},
		{flag: "class-prompt", field: "class_prompt", usage: "the class, e.g. \"photo of a man\""},
		{flag: "base-model", usage: "LoRA: base_model_type (normal, sdxl); DreamBooth: base_model_id"},
		qSteps.with("max_train_steps", "number of training steps (max_train_steps)"),
		{flag: "training-type", field: "training_type", usage: "men, women, couple or null"},
		{flag: "lora-type", field: "lora_type", usage: "lora or lycoris", choices: []string{"lora", "lycoris"}},
		qNegPrompt,
		qSeed,
		{flag: "dreambooth", kind: kBool, usage: "train a DreamBooth model (fine_tune) instead of a LoRA"},
	},
	endpoint: func(o *JobCmdOptions) (string, error) {
		if o.value("dreambooth") == "true" {
			return "fine_tune", nil
		}
		return "lora_fine_tune", nil
	},
	// The base model goes under the field the chosen endpoint uses.
	adjust: func(o *JobCmdOptions, ep api.Endpoint, body map[string]any) {
		if !o.set("base-model") {
			return
		}
		if ep.Name == "fine_tune" {
			body["base_model_id"] = o.value("base-model")
		} else {
			body["base_model_type"] = o.value("base-model")
		}
	},
	validate: func(o *JobCmdOptions) error {
		if len(*o.lists["images"]) == 0 {
			return flagErrorf("mlab train needs --images (URLs or local files)")
		}
		if !o.set("instance-prompt") {
			return flagErrorf("mlab train needs --instance-prompt")
		}
		return nil
	},
}

// needsPromptOrImage is the check of a command that works from a PROMPT, an
// --init-image or both.
func needsPromptOrImage(name string) func(*JobCmdOptions) error {
	return func(o *JobCmdOptions) error {
		if o.Arg == "" && !o.set("init-image") {
			return flagErrorf("mlab %s needs a PROMPT (or --init-image)", name)
		}
		return nil
	}
}

// editSpec is built from the catalogue: every Kind "edit" row is an
// OPERATION.
func editSpec() *jobSpec {
	var ops []string
	var lines []string
	for _, ep := range api.Catalogue() {
		if ep.Kind != "edit" {
			continue
		}
		ops = append(ops, ep.Name)
		req := ""
		if len(ep.Required) > 0 {
			req = " (needs " + strings.Join(ep.Required, ", ") + ")"
		}
		lines = append(lines, fmt.Sprintf("  %-18s %s%s", ep.Name, ep.Summary, req))
	}
	sort.Strings(ops)
	return &jobSpec{
		use:   "edit OPERATION [PROMPT]",
		short: "Edit images: remove background, upscale, outpaint, object removal, ...",
		long: `Edit an image with one of ModelsLab's image-editing endpoints. The image goes
in with --image (a URL or a local file, uploaded first); it is sent as the
field the operation needs (image or init_image). The operations that take a
prompt (outpaint, inpaint, ...) take it as PROMPT. Other fields go in with
their flags or -F key=value.

Operations:
` + strings.Join(lines, "\n"),
		example: `  $ mlab edit removebg_mask --image photo.jpg --wait -o out/
  $ mlab edit super_resolution --image https://example.com/small.png -F scale=4 --wait -o out/
  $ mlab edit outpaint "a wider view of the room" --image room.png --wait -o out/`,
		argField: "", argName: "OPERATION", promptArg: true,
		flags: []fieldFlag{
			{flag: "image", usage: "the input image: URL or local file"},
			{flag: "mask-image", field: "mask_image", usage: "mask image: URL or local file"},
			{flag: "prompt", field: "prompt", usage: "prompt (outpaint, inpaint, ...)"},
			qNegPrompt,
			qSeed,
		},
		// The image goes under the field the operation requires.
		adjust: func(o *JobCmdOptions, ep api.Endpoint, body map[string]any) {
			if !o.set("image") {
				return
			}
			field := "init_image"
			if contains(ep.Required, "image") {
				field = "image"
			}
			if _, given := body[field]; !given {
				body[field] = o.value("image")
			}
		},
		endpoint: func(o *JobCmdOptions) (string, error) {
			if !contains(ops, o.Arg) {
				return "", unknownValue("operation", o.Arg, ops, "see 'mlab edit --help' for the operations")
			}
			return o.Arg, nil
		},
	}
}
