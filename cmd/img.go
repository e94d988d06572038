package cmd

import (
	"context"

	"github.com/spf13/cobra"
)

// imgSpec declares `mlab img`, the first job command: a newcomer follows
// one job from here (newJobCmd → runJobCmd → runJob) into internal/runner.
var imgSpec = &jobSpec{
	use:   "img PROMPT",
	short: "Generate images: text2img, img2img, inpaint, controlnet",
	long: `Generate images with ModelsLab.

The endpoint follows from the flags: text2img by default, img2img with
--init-image, inpaint with --init-image and --mask-image, controlnet with
--controlnet-model or --controlnet-type. Any other body field goes in with
-F key=value. v6 models take a width and height of at most 1024.

The model picks the API: ModelsLab's own models (flux, sdxl, ...) run on
v6, third-party ones (seedream-4, imagen-4, nano-banana, flux-2-pro, ...)
on the v7 unified API (/api/v7/images/...), from the model table (mlab
models; mlab help models). --api v6|v7 forces it.

Without --wait the job is submitted and its id printed. With --wait mlab
opens a webhook receiver first (see --tunnel), submits with that URL and a
track_id, and returns when the webhook arrives or polling sees the result;
with -o DIR the files are downloaded and their paths printed.`,
	example: `  # no key needed: a local sandbox API
  $ mlab img "a lighthouse at dusk" --wait --sandbox -o out

  $ mlab img "a lighthouse at dusk" --wait -o out/
  $ mlab img "same, at dawn" --init-image https://example.com/in.png --wait
  $ mlab img "a cat" --model flux --width 1024 --height 768 -F enhance_prompt=true --wait --json
  $ mlab img "a cat in the rain" --model seedream-4 --aspect-ratio 16:9 --wait -o out/

  # submit only, let your own server receive the webhook
  $ mlab img "a lighthouse" --webhook https://example.com/hooks/modelslab`,
	argField: "prompt", argName: "PROMPT", argCount: "exactly one",
	flags: []fieldFlag{
		{flag: "model", short: "m", field: "model_id", def: "flux", usage: "model_id"},
		qNegPrompt,
		qWidth,
		qHeight,
		{flag: "samples", field: "samples", kind: kInt, positive: true, usage: "number of images (max 4)"},
		qSeed,
		qSteps,
		qGuidance,
		{flag: "init-image", field: "init_image", usage: "input image: URL or local file (img2img, inpaint, controlnet)"},
		{flag: "mask-image", field: "mask_image", usage: "mask image: URL or local file (inpaint)"},
		{flag: "controlnet-model", field: "controlnet_model", usage: "controlnet_model, e.g. canny (controlnet)"},
		{flag: "controlnet-type", field: "controlnet_type", usage: "controlnet_type, e.g. canny (controlnet)"},
		{flag: "aspect-ratio", field: "aspect_ratio", usage: "aspect_ratio, e.g. 1:1, 16:9 (many v7 models need it)"},
	},
	// The endpoint follows from the flags given a value.
	endpoint: func(o *JobCmdOptions) (string, error) {
		switch {
		case o.set("controlnet-model") || o.set("controlnet-type"):
			return "controlnet", nil
		case o.set("mask-image"):
			return "inpaint", nil
		case o.set("init-image"):
			return "img2img", nil
		}
		return "text2img", nil
	},
	v7: func(o *JobCmdOptions) (string, error) {
		switch {
		case o.set("controlnet-model") || o.set("controlnet-type"):
			return "", flagErrorf("controlnet runs on v6 only: drop --api v7 (or the v7 model)")
		case o.set("mask-image"):
			return "v7_inpaint", nil
		case o.set("init-image"):
			return "v7_image_to_image", nil
		}
		return "v7_text_to_image", nil
	},
	flagCheck: func(o *JobCmdOptions) error {
		if o.set("mask-image") && !o.set("init-image") {
			return flagErrorf("--mask-image needs --init-image (inpaint)")
		}
		return nil
	},
}

func newCmdImg(f *Factory, runF func(context.Context, *JobCmdOptions) error) *cobra.Command {
	return newJobCmd(f, imgSpec, runF)
}
