package cmd

import (
	"context"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/spf13/cobra"
)

// ImgOptions are the flags of `mlab img`.
type ImgOptions struct {
	f   *Factory
	Job JobOptions

	Prompt          string
	Model           string
	NegativePrompt  string
	Width, Height   int
	Samples, Steps  int
	Seed            int64
	seedSet         bool
	Guidance        float64
	InitImage       string
	MaskImage       string
	ControlnetModel string
	ControlnetType  string
}

func newCmdImg(f *Factory, runF func(context.Context, *ImgOptions) error) *cobra.Command {
	opts := &ImgOptions{f: f}
	cmd := &cobra.Command{
		Use:   "img PROMPT",
		Short: "Generate images: text2img, img2img, inpaint, controlnet",
		Long: `Generate images with ModelsLab.

The endpoint follows from the flags: text2img by default, img2img with
--init-image, inpaint with --init-image and --mask-image, controlnet with
--controlnet-model or --controlnet-type. Any other body field goes in with
-F key=value.

Without --wait the job is submitted and its id printed. With --wait mlab
opens a webhook receiver first (see --tunnel), submits with that URL and a
track_id, and returns when the webhook arrives or polling sees the result;
with -o DIR the files are downloaded and their paths printed.

` + exitCodesHelp,
		Example: `  # no key needed: a local sandbox API
  $ mlab img "a lighthouse at dusk" --wait --sandbox -o out

  $ mlab img "a lighthouse at dusk" --wait -o out/
  $ mlab img "same, at dawn" --init-image https://example.com/in.png --wait
  $ mlab img "a cat" --model flux --width 1024 --height 768 -F enhance_prompt=true --wait --json

  # submit only, let your own server receive the webhook
  $ mlab img "a lighthouse" --webhook https://example.com/hooks/modelslab`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && opts.Job.Batch != "" {
				return nil
			}
			if len(args) != 1 {
				return flagErrorf("mlab img takes exactly one PROMPT argument (quote it), got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Prompt = args[0]
			}
			opts.seedSet = cmd.Flags().Changed("seed")
			if strings.TrimSpace(opts.Prompt) == "" && opts.Job.Batch == "" {
				return flagErrorf("the prompt is empty")
			}
			if opts.MaskImage != "" && opts.InitImage == "" {
				return flagErrorf("--mask-image needs --init-image (inpaint)")
			}
			if err := opts.Job.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runImg(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Model, "model", "m", "flux", "model_id")
	fl.StringVarP(&opts.NegativePrompt, "negative-prompt", "n", "", "what to keep out of the image")
	fl.IntVar(&opts.Width, "width", 0, "width in pixels (max 1024)")
	fl.IntVar(&opts.Height, "height", 0, "height in pixels (max 1024)")
	fl.IntVar(&opts.Samples, "samples", 0, "number of images (max 4)")
	fl.Int64Var(&opts.Seed, "seed", 0, "seed (default random)")
	fl.IntVar(&opts.Steps, "steps", 0, "num_inference_steps")
	fl.Float64Var(&opts.Guidance, "guidance", 0, "guidance_scale")
	fl.StringVar(&opts.InitImage, "init-image", "", "input image `URL` (img2img, inpaint, controlnet)")
	fl.StringVar(&opts.MaskImage, "mask-image", "", "mask image `URL` (inpaint)")
	fl.StringVar(&opts.ControlnetModel, "controlnet-model", "", "controlnet_model, e.g. canny (controlnet)")
	fl.StringVar(&opts.ControlnetType, "controlnet-type", "", "controlnet_type, e.g. canny (controlnet)")
	addJobFlags(cmd, &opts.Job)
	return cmd
}

// imgEndpoint picks the endpoint the flags ask for.
func (o *ImgOptions) endpoint() string {
	switch {
	case o.ControlnetModel != "" || o.ControlnetType != "":
		return "controlnet"
	case o.MaskImage != "":
		return "inpaint"
	case o.InitImage != "":
		return "img2img"
	}
	return "text2img"
}

// body builds the request body: typed flags first, then -F/-f (the most
// explicit source wins).
func (o *ImgOptions) body() (map[string]any, error) {
	b := map[string]any{
		"prompt":           o.Prompt,
		"model_id":         o.Model,
		"negative_prompt":  o.NegativePrompt,
		"init_image":       o.InitImage,
		"mask_image":       o.MaskImage,
		"controlnet_model": o.ControlnetModel,
		"controlnet_type":  o.ControlnetType,
	}
	setInt := func(k string, v int) {
		if v > 0 {
			b[k] = v
		}
	}
	setInt("width", o.Width)
	setInt("height", o.Height)
	setInt("samples", o.Samples)
	setInt("num_inference_steps", o.Steps)
	if o.Guidance > 0 {
		b["guidance_scale"] = o.Guidance
	}
	if o.seedSet {
		b["seed"] = o.Seed
	}
	extra, err := parseFields(o.Job.Fields, o.Job.RawFields, o.f.IO.In)
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		b[k] = v
	}
	return b, nil
}

func runImg(ctx context.Context, o *ImgOptions) error {
	name := o.endpoint()
	ep, ok := api.Lookup(name)
	if !ok {
		return flagErrorf("endpoint %s is not in the catalogue", name)
	}
	body, err := o.body()
	if err != nil {
		return err
	}
	return runJob(ctx, &jobRun{f: o.f, opts: &o.Job, ep: ep, body: body, argField: "prompt"})
}
