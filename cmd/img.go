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
-F key=value.

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
		{flag: "negative-prompt", short: "n", field: "negative_prompt", usage: "what to keep out of the image"},
		{flag: "width", field: "width", kind: kInt, typed: true, positive: true, usage: "width in pixels (max 1024)"},
		{flag: "height", field: "height", kind: kInt, typed: true, positive: true, usage: "height in pixels (max 1024)"},
		{flag: "samples", field: "samples", kind: kInt, typed: true, positive: true, usage: "number of images (max 4)"},
		{flag: "seed", field: "seed", kind: kInt64, typed: true, usage: "seed (default random)"},
		{flag: "steps", field: "num_inference_steps", kind: kInt, typed: true, positive: true, usage: "num_inference_steps"},
		{flag: "guidance", field: "guidance_scale", kind: kFloat, typed: true, positive: true, usage: "guidance_scale"},
		{flag: "init-image", field: "init_image", usage: "input image `URL` (img2img, inpaint, controlnet)"},
		{flag: "mask-image", field: "mask_image", usage: "mask image `URL` (inpaint)"},
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
