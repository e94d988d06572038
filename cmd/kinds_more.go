package cmd

import (
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/spf13/cobra"
)

// The job commands of issue 15: the kinds mlab could not run before
// (lip-sync, motion control, dubbing, song extend/inpaint, sound effects,
// speech to text, face swap, interior design), over the v7 and v6 rows of
// the catalogue. Each is a jobSpec, so wait, journal, batch, JSON and exit
// codes are those of every job command.

var lipSyncSpec = &jobSpec{
	use:   "lip-sync",
	short: "Video: make the lips of a video follow an audio track (v7, lipsync-2)",
	long: `Lip-sync --video to --audio with /api/v7/video-fusion/lip-sync. Both take a
URL or a local file (uploaded first).`,
	example: `  $ mlab lip-sync --video talk.mp4 --audio dub.mp3 --wait -o out/
  $ mlab lip-sync --video https://example.com/a.mp4 --audio https://example.com/a.mp3 --json`,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "video", field: "init_video", usage: "the video: URL or local file"},
		{flag: "audio", field: "init_audio", usage: "the audio to follow: URL or local file"},
		{flag: "model", short: "m", field: "model_id", def: "lipsync-2", usage: "model_id"},
	},
	v7: fixed("v7_lip_sync"),
	validate: func(o *JobCmdOptions) error {
		if !o.set("video") || !o.set("audio") {
			return flagErrorf("mlab lip-sync needs --video and --audio")
		}
		return nil
	},
}

var motionControlSpec = &jobSpec{
	use:   "motion-control [PROMPT]",
	short: "Video: animate an image with the motion of a video (v7, kling-motion-control)",
	long: `Animate the character of --image with the motion of --video through
/api/v7/video-fusion/motion-control. --orientation says whose orientation
the character keeps (image or video); --mode std or pro.`,
	example: `  $ mlab motion-control "make this image accurately animate to the video" \
      --image still.jpg --video dance.mov --orientation image --mode std --wait -o out/`,
	argField: "prompt", argName: "PROMPT", argOptional: true,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "image", field: "init_image", usage: "the character image: URL or local file"},
		{flag: "video", field: "init_video", usage: "the motion video: URL or local file"},
		{flag: "orientation", field: "character_orientation", def: "image", usage: "character_orientation", choices: []string{"image", "video"}},
		{flag: "mode", field: "mode", usage: "mode", choices: []string{"std", "pro"}},
		{flag: "keep-sound", field: "keep_original_sound", usage: "keep_original_sound", choices: []string{"yes", "no"}},
		{flag: "model", short: "m", field: "model_id", def: "kling-motion-control", usage: "model_id"},
	},
	v7: fixed("v7_motion_control"),
	validate: func(o *JobCmdOptions) error {
		if !o.set("image") || !o.set("video") {
			return flagErrorf("mlab motion-control needs --image and --video")
		}
		return nil
	},
}

var dubSpec = &jobSpec{
	use:   "dub",
	short: "Audio: dub a video (or, on v7, audio) into another language",
	long: `Dub --video into the language --to names with v6 create_dubbing (output_lang).
With a v7 dubbing model (--model M, --api v7 if the model table does not know
it) the job goes to /api/v7/voice/create-dubbing (target_language), which
also takes --audio.`,
	example: `  $ mlab dub --video talk.mp4 --to es --wait -o out/
  $ mlab dub --audio podcast.mp3 --to fr --model MODEL --api v7 --wait -o out/`,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "video", field: "init_video", usage: "the video to dub: URL or local file"},
		{flag: "audio", field: "init_audio", usage: "the audio to dub: URL or local file (v7)"},
		{flag: "to", usage: "the language to dub into, e.g. es, fr, hi"},
		{flag: "from", field: "source_lang", usage: "the spoken language (v6; default: detected)"},
		{flag: "voice-id", field: "voice_id", usage: "voice_id"},
		{flag: "model", short: "m", field: "model_id", usage: "model_id (v7)"},
	},
	endpoint: func(o *JobCmdOptions) (string, error) {
		if !o.set("video") {
			return "", flagErrorf("v6 create_dubbing dubs a video (--video); for audio use a v7 dubbing model (--model M --api v7)")
		}
		return "create_dubbing", nil
	},
	v7: fixed("v7_create_dubbing"),
	adjust: func(o *JobCmdOptions, ep api.Endpoint, body map[string]any) {
		field := "output_lang"
		if ep.Version() == "v7" {
			field = "target_language"
		}
		if o.set("to") {
			body[field] = o.value("to")
		}
	},
	validate: func(o *JobCmdOptions) error {
		if !o.set("to") {
			return flagErrorf("mlab dub needs --to LANG")
		}
		if !o.set("video") && !o.set("audio") {
			return flagErrorf("mlab dub needs --video (or, on v7, --audio)")
		}
		return nil
	},
}

var songExtendSpec = &jobSpec{
	use:   "extend [PROMPT]",
	path:  "song extend",
	short: "Extend a song (v7, song-extender)",
	long: `Extend --audio by --extend-duration seconds (up to 85) at its end (--side
right) or its start (left) with /api/v7/voice/song-extender; PROMPT says what
to write.`,
	example:  `  $ mlab song extend "write another verse for my song" --audio song.ogg --extend-duration 45 --side right --wait -o out/`,
	argField: "prompt", argName: "PROMPT", argOptional: true,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "audio", field: "init_audio", usage: "the song: URL or local file"},
		{flag: "extend-duration", usage: "seconds to add (0-85), e.g. 45"},
		{flag: "side", field: "side", usage: "where to extend", choices: []string{"right", "left"}},
		{flag: "model", short: "m", field: "model_id", def: "song-extender", usage: "model_id"},
	},
	v7: fixed("v7_song_extender"),
	adjust: func(o *JobCmdOptions, ep api.Endpoint, body map[string]any) {
		if o.set("extend-duration") {
			body["extend_duration"] = decimalText(o.value("extend-duration"))
		}
	},
	validate: func(o *JobCmdOptions) error {
		if !o.set("audio") {
			return flagErrorf("mlab song extend needs --audio")
		}
		return nil
	},
}

var songInpaintSpec = &jobSpec{
	use:   "inpaint [PROMPT]",
	path:  "song inpaint",
	short: "Rewrite part of a song (v7, song-inpaint)",
	long: `Rewrite part of --audio with /api/v7/voice/song-inpaint, from a PROMPT or new
--lyrics; which part goes in with -F sections='[...]' (model-specific).`,
	example: `  $ mlab song inpaint "make the chorus happier" --audio song.mp3 --wait -o out/
  $ mlab song inpaint --audio song.mp3 --lyrics new.txt -F 'sections=[{"start":30,"end":45}]' --wait --json`,
	argField: "prompt", argName: "PROMPT", argOptional: true,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "audio", field: "init_audio", usage: "the song: URL or local file"},
		{flag: "lyrics", field: "lyrics", kind: kFile, usage: "read new lyrics from `FILE`"},
		{flag: "model", short: "m", field: "model_id", def: "song-inpaint", usage: "model_id"},
	},
	v7: fixed("v7_song_inpaint"),
	validate: func(o *JobCmdOptions) error {
		if !o.set("audio") {
			return flagErrorf("mlab song inpaint needs --audio")
		}
		if o.Arg == "" && !o.set("lyrics") {
			return flagErrorf("mlab song inpaint needs a PROMPT or --lyrics FILE")
		}
		return nil
	},
}

var sfxSpec = &jobSpec{
	use:   "sfx PROMPT",
	short: "Audio: generate a sound effect from a description",
	long: `Generate a sound effect with v6 sfx, or with a v7 model (--model
eleven_sound_effect) on /api/v7/voice/sound-generation, where --duration
(1-22 s) is sent as the field "time in seconds".`,
	example: `  $ mlab sfx "a heavy wooden door creaks open" --duration 5 --wait -o out/
  $ mlab sfx "rain on a tin roof" --model eleven_sound_effect --duration 10 --wait -o out/`,
	argField: "prompt", argName: "PROMPT",
	flags: []fieldFlag{
		qDuration.with(""), // its field depends on the API (adjust)
		{flag: "output-format", field: "output_format", usage: "audio format", choices: []string{"wav", "mp3"}},
		{flag: "model", short: "m", field: "model_id", usage: "model_id (v7: eleven_sound_effect)"},
	},
	endpoint: fixed("sfx"),
	v7:       fixed("v7_sound_generation"),
	adjust: func(o *JobCmdOptions, ep api.Endpoint, body map[string]any) {
		d, send := o.typedValue(fieldFlag{flag: "duration", kind: kFloat, positive: true})
		if !send {
			return
		}
		if ep.Version() == "v7" {
			body["time in seconds"] = d
		} else {
			body["duration"] = d
		}
	},
}

var sttSpec = &jobSpec{
	use:   "stt FILE|URL",
	short: "Audio: transcribe speech; the transcript goes to stdout",
	long: `Transcribe a recording (a local file, uploaded first, or a URL) with v6
speech_to_text (Whisper), or a v7 model (--model scribe_v1) on
/api/v7/voice/speech-to-text. mlab waits for it (--wait is on; --wait=false
submits only and prints the id) and prints only the transcript on stdout;
--json prints the whole result with the transcript under "text"; -o DIR also
keeps the transcript file.`,
	example: `  $ mlab stt interview.wav > interview.txt
  $ mlab stt https://example.com/talk.mp3 --language en --json | jq -r .text
  $ mlab stt call.mp3 --model scribe_v1 -o out/`,
	argField: "init_audio", argName: "FILE|URL", argCount: "exactly one",
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "language", field: "language", usage: "the spoken language, e.g. en (default: detected)"},
		{flag: "timestamp-level", field: "timestamp_level", usage: "timestamps (v6)", choices: []string{"word", "sentence"}},
		{flag: "model", short: "m", field: "model_id", usage: "model_id (v7: scribe_v1)"},
	},
	endpoint:   fixed("speech_to_text"),
	v7:         fixed("v7_speech_to_text"),
	transcript: true,
}

var faceSwapSpec = &jobSpec{
	use:   "face-swap",
	short: "Swap faces in an image or a video (v6 deepfake)",
	long: `Swap faces with ModelsLab's face-swap endpoints: single_face_swap for
--init-image and --target-image, multiple_face_swap with --all, and with
--init-video single_video_swap (specific_video_swap with --reference-image,
to pick the face in the video). Each takes a URL or a local file.`,
	example: `  $ mlab face-swap --init-image face.jpg --target-image group.jpg --wait -o out/
  $ mlab face-swap --init-image face.jpg --target-image group.jpg --all --wait -o out/
  $ mlab face-swap --init-image face.jpg --init-video clip.mp4 --reference-image who.jpg --wait -o out/`,
	timeout: time.Hour,
	flags: []fieldFlag{
		{flag: "init-image", field: "init_image", usage: "init_image: the face image (URL or local file)"},
		{flag: "target-image", field: "target_image", usage: "target_image: the image whose faces change (URL or local file)"},
		{flag: "init-video", field: "init_video", usage: "init_video: the video whose faces change (URL or local file)"},
		{flag: "reference-image", field: "reference_image", usage: "reference_image: which face of the video (URL or local file; specific_video_swap)"},
		{flag: "all", kind: kBool, usage: "swap every face of --target-image (multiple_face_swap)"},
	},
	endpoint: func(o *JobCmdOptions) (string, error) {
		switch {
		case o.set("init-video") && o.set("reference-image"):
			return "specific_video_swap", nil
		case o.set("init-video"):
			return "single_video_swap", nil
		case o.value("all") == "true":
			return "multiple_face_swap", nil
		}
		return "single_face_swap", nil
	},
	validate: func(o *JobCmdOptions) error {
		switch {
		case !o.set("init-image"):
			return flagErrorf("mlab face-swap needs --init-image (the face)")
		case o.set("init-video") && o.set("target-image"):
			return flagErrorf("give --target-image (an image) or --init-video (a video), not both")
		case !o.set("init-video") && !o.set("target-image"):
			return flagErrorf("mlab face-swap needs --target-image or --init-video")
		case o.set("reference-image") && !o.set("init-video"):
			return flagErrorf("--reference-image picks a face in --init-video")
		case o.set("init-video") && o.value("all") == "true":
			return flagErrorf("--all swaps every face of --target-image; for a video use --reference-image to pick the face")
		}
		return nil
	},
}

// interiorOps maps mlab interior --op values to catalogue rows.
var interiorOps = map[string]string{
	"make": "interior", "room-decorator": "room_decorator", "floor-planning": "floor_planning",
	"scenario": "scenario_changer", "exterior-restorer": "exterior_restorer",
	"object-removal": "interior_object_removal", "mixer": "interior_mixer",
}

var interiorSpec = &jobSpec{
	use:   "interior [PROMPT]",
	short: "Interior design: redesign, decorate, render floor plans (v6 interior)",
	long: `Redesign a room or a building from a photo (--image) and a PROMPT with
ModelsLab's interior endpoints. --op picks one:

  make               redesign a room (interior/make, the default)
  room-decorator     decorate an empty room
  floor-planning     render a room from a floor plan
  scenario           change the scene around it
  exterior-restorer  restore or redesign a building's exterior
  object-removal     remove --object-name from the photo (no PROMPT)
  mixer              place --object-image into the room`,
	example: `  $ mlab interior "scandinavian living room, oak floor" --image room.jpg --wait -o out/
  $ mlab interior --op object-removal --image room.jpg --object-name sofa --wait -o out/
  $ mlab interior "a reading corner" --op mixer --image room.jpg --object-image chair.png --wait -o out/`,
	argField: "prompt", argName: "PROMPT", argOptional: true,
	flags: []fieldFlag{
		{flag: "image", field: "init_image", usage: "the photo: URL or local file"},
		{flag: "op", def: "make", usage: "operation", choices: []string{"make", "room-decorator", "floor-planning", "scenario", "exterior-restorer", "object-removal", "mixer"}},
		{flag: "object-name", field: "object_name", usage: "what to remove (object-removal)"},
		{flag: "object-image", field: "object_image", usage: "the object to place: URL or local file (mixer)"},
		qNegPrompt,
		{flag: "strength", field: "strength", kind: kFloat, positive: true, usage: "how far to move from the photo (0-1)"},
		qSteps,
		qGuidance,
		qSeed,
	},
	endpoint: func(o *JobCmdOptions) (string, error) { return interiorOps[o.value("op")], nil },
	validate: func(o *JobCmdOptions) error {
		op := o.value("op")
		switch {
		case !o.set("image"):
			return flagErrorf("mlab interior needs --image")
		case op == "object-removal" && !o.set("object-name"):
			return flagErrorf("--op object-removal needs --object-name")
		case op == "object-removal" && o.Arg != "":
			return flagErrorf("--op object-removal takes no PROMPT: name the object with --object-name")
		case op == "mixer" && !o.set("object-image"):
			return flagErrorf("--op mixer needs --object-image")
		case op != "object-removal" && o.Arg == "":
			return flagErrorf("mlab interior --op %s needs a PROMPT", op)
		}
		return nil
	},
}

// decimalText writes a number the way the song extender's examples send
// it: "45" → "45.0"; other text is sent as it is.
func decimalText(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return s + ".0"
	}
	return s
}

// newCmdSong is mlab song (song_generator) with its subcommands extend and
// inpaint.
func newCmdSong(f *Factory) *cobra.Command {
	cmd := newJobCmd(f, songSpec, nil)
	cmd.AddCommand(newJobCmd(f, songExtendSpec, nil), newJobCmd(f, songInpaintSpec, nil))
	return cmd
}
