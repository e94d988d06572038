package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/models"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/spf13/cobra"
)

// ModelsOptions are the flags of `mlab models` and `mlab models show`.
type ModelsOptions struct {
	f        *Factory
	Query    string
	ID       string // show
	Feature  string
	Provider string
	API      string
	JSON     bool
	Refresh  bool
	Sandbox  bool
	Limit    int
	Out      OutputFlags // --jq, --template
}

const modelsTopic = `Models, and which API runs them

ModelsLab has two generation APIs, and mlab speaks both:

  v6  ModelsLab's own models and the community/fine-tuned ones: flux, sdxl,
      midjourney, realistic-vision..., wan2.2, ltx-2.3, ... (/api/v6/...)
  v7  the "unified" API, the only route to third-party models: seedream,
      imagen, nano-banana, flux-2-pro, kling, Hailuo, seedance, sora, veo,
      runway gen4, ElevenLabs voices, Sonauto, lipsync-2 ... (/api/v7/...)

Neither is deprecated. A job command sends the job where its --model
belongs, so the same command works for both:

  mlab img "a lighthouse" --model flux          POST /api/v6/images/text2img
  mlab img "a lighthouse" --model seedream-4    POST /api/v7/images/text-to-image
  mlab video "waves" --model kling-v2-1-i2v --init-image still.png
                                                POST /api/v7/video-fusion/image-to-video

Where a model belongs comes from the model table: a built-in list of known
model ids (in mlab's source), and the model list the API gave to the last
'mlab models' (cached for a day under your user cache directory, or
$MLAB_CACHE_DIR), which wins when it names the API. A model the table does
not know goes where the command's default goes (v6: a fine-tuned or
community model id); --debug says which way a job went and why, and
--api v6|v7 forces it. Commands that exist only on v7 (lip-sync,
motion-control, song extend/inpaint) always use v7.

v7 differences mlab takes care of: the key goes in the body and in a "key"
header; model_id is required; the fetch URL is derived from the family
(/api/v7/{images,video-fusion,voice}/fetch/{id}) when the answer has no
fetch_result; ids may be strings. A v7 submit that the API refuses at once
(HTTP 200 {"status":"error"} without an id) exits 4 with the API's message:
no job was created, nothing to wait for.

Model-specific fields go in with -F (e.g. -F generate_audio=true); the
flags many v7 models need exist where they apply: --aspect-ratio (img,
video), --duration and --resolution (video), --voice-id (tts, voice-convert).

  mlab models flux                  models whose id, name or text match
  mlab models --feature video_fusion --provider klingai
  mlab models show seedream-4       one model, its endpoints and parameters
  mlab models --json | jq -r 'select(.api=="v7") | .model_id'`

func newCmdModels(f *Factory, runF func(context.Context, *ModelsOptions) error) *cobra.Command {
	opts := &ModelsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "models [QUERY]",
		Short: "Find a model id: search ModelsLab's models (v6 and v7)",
		Long: `List ModelsLab's models, or those whose id, name, provider or description
contain QUERY, with the API each one runs on (v6 or v7). The list comes from
the API (GET /api/v7/models, else /api/v6/model-search, with your API key)
and is cached for a day; the cache also teaches job commands where a
--model goes (mlab help models). When the API cannot be reached the cached
list is shown, with its age; --refresh asks the API even when the cache is
fresh.

With --json, one JSON object per model: {"model_id","name","provider",
"feature","type","api","endpoint","description",...}.`,
		Example: `  $ mlab models flux
  $ mlab models --feature imagen --api v7
  $ mlab models kling --json | jq -r .model_id
  $ mlab models show seedream-4
  $ mlab models --sandbox`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return flagErrorf("mlab models takes at most one QUERY (quote it), got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Query = strings.TrimSpace(args[0])
			}
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runModels(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Feature, "feature", "", "only this feature, e.g. imagen, video_fusion, audio_gen")
	fl.StringVar(&opts.Provider, "provider", "", "only this provider, e.g. byteplus, klingai, google")
	fl.StringVar(&opts.API, "api", "", "only models of this API: v6 or v7")
	fl.IntVar(&opts.Limit, "limit", 0, "show at most N models (0: all)")
	fl.BoolVar(&opts.Refresh, "refresh", false, "ask the API even when the cached list is fresh")
	addModelsCommon(cmd, opts)
	cmd.AddCommand(newCmdModelsShow(f, opts, runF))
	return cmd
}

func addModelsCommon(cmd *cobra.Command, opts *ModelsOptions) {
	fl := cmd.Flags()
	fl.BoolVar(&opts.JSON, "json", false, "print JSON on stdout")
	addFilterFlags(fl, &opts.Out)
	fl.BoolVar(&opts.Sandbox, "sandbox", false, "ask an in-process sandbox API (no key needed)")
}

func newCmdModelsShow(f *Factory, parent *ModelsOptions, runF func(context.Context, *ModelsOptions) error) *cobra.Command {
	opts := &ModelsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one model: its API, endpoints and parameters",
		Long: `Show one model as the API describes it (GET /api/v6/model-search/ID): its
provider, feature, the API mlab sends it to, and each endpoint with its
parameters (type, allowed values, default; * marks a required one). When the
API cannot be reached, what the cached list and the built-in table know.`,
		Example: `  $ mlab models show seedream-4
  $ mlab models show kling-v2-1-i2v --json | jq .endpoints`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
				return flagErrorf("mlab models show takes one model ID")
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
			return modelNames(f, prefix), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = strings.TrimSpace(args[0])
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runModelsShow(cmd.Context(), opts)
		},
	}
	addModelsCommon(cmd, opts)
	_ = parent
	return cmd
}

func (o *ModelsOptions) check() error {
	switch strings.ToLower(o.API) {
	case "", "v6", "v7":
		o.API = strings.ToLower(o.API)
	default:
		return flagErrorf("--api must be v6 or v7")
	}
	if o.Limit < 0 {
		return flagErrorf("--limit must be 0 (all) or more")
	}
	return nil
}

// modelsCache is the model list cache, in $MLAB_CACHE_DIR or the user
// cache directory.
func (f *Factory) modelsCache() models.Cache {
	return models.Cache{Dir: f.Getenv(models.EnvCacheDir)}
}

// Router is the model table job commands route with: the built-in table
// and the cached model list of the configured API, loaded once. A cache
// that cannot be read is left out (said with --debug).
func (f *Factory) Router() *models.Router {
	f.routerOnce.Do(func() {
		var cached []models.Model
		if cfg, err := f.Config(); err == nil {
			l, ok, err := f.modelsCache().Load(cfg.BaseURL)
			if err != nil {
				if w := f.DebugWriter(); w != nil {
					fmt.Fprintf(w, "model cache: %v\n", err)
				}
			}
			if ok {
				cached = l.Models
			}
		}
		f.router = models.NewRouter(cached)
	})
	return f.router
}

// modelNames completes --model: the model ids the table knows that start
// with prefix (case-insensitively).
func modelNames(f *Factory, prefix string) []string {
	var out []string
	for _, n := range f.Router().Names() {
		if len(n) >= len(prefix) && strings.EqualFold(n[:len(prefix)], prefix) {
			out = append(out, n)
		}
	}
	return out
}

// modelsClient is the discovery client of the configured API, or of an
// in-process sandbox (closed by the returned function).
func (o *ModelsOptions) client() (*models.Client, string, func(), error) {
	client, base, closeFn, err := o.f.apiClient(apiChoice{Sandbox: o.Sandbox})
	if err != nil {
		return nil, "", nil, err
	}
	return models.NewClient(base, client.Key(), client.HTTPClient()), base, closeFn, nil
}

func runModels(ctx context.Context, o *ModelsOptions) error {
	mc, base, closeFn, err := o.client()
	if err != nil {
		return err
	}
	defer closeFn()
	cache := o.f.modelsCache()
	var (
		cached    models.List
		haveCache bool
		cerr      error
	)
	if !o.Sandbox { // an in-process sandbox has a new address each run
		cached, haveCache, cerr = cache.Load(base)
	}
	if cerr != nil {
		o.f.IO.Warnf("the model cache cannot be read (%v); asking the API", cerr)
	}
	var list []models.Model
	switch {
	case haveCache && cache.Fresh(cached) && !o.Refresh:
		list = cached.Models
		o.f.IO.Infof("model list cached %s (--refresh asks the API)", output.FormatAgo(time.Since(cached.FetchedAt)))
	default:
		list, err = mc.List(ctx, models.Query{Limit: models.MaxModels})
		if err != nil {
			if !haveCache || api.IsKind(err, api.KindAuth) || ctx.Err() != nil {
				return err
			}
			o.f.IO.Warnf("%v", o.f.redact(err.Error()))
			o.f.IO.Warnf("showing the model list cached %s", output.FormatAgo(time.Since(cached.FetchedAt)))
			list = cached.Models
			break
		}
		if o.Sandbox {
			break
		}
		if err := cache.Save(base, list); err != nil {
			o.f.IO.Warnf("could not cache the model list: %v", err)
		}
	}
	list = o.filter(list)
	if o.Limit > 0 && len(list) > o.Limit {
		list = list[:o.Limit]
	}
	if len(list) == 0 {
		o.f.IO.Infof("no model matches; mlab models lists them all")
		return nil
	}
	if o.JSON {
		return writeModelsJSON(o.f, list)
	}
	return writeModelsTable(o.f, list)
}

// filter keeps the models that match QUERY (id, name, provider or
// description, case-insensitively), --feature, --provider and --api.
func (o *ModelsOptions) filter(in []models.Model) []models.Model {
	q := strings.ToLower(o.Query)
	var out []models.Model
	for _, m := range in {
		if q != "" && !slices.ContainsFunc([]string{m.ID, m.Name, m.Provider, m.Description}, func(s string) bool {
			return strings.Contains(strings.ToLower(s), q)
		}) {
			continue
		}
		if o.Feature != "" && !strings.EqualFold(m.Feature, o.Feature) {
			continue
		}
		if o.Provider != "" && !strings.EqualFold(m.Provider, o.Provider) {
			continue
		}
		if o.API != "" && m.API != o.API {
			continue
		}
		out = append(out, m)
	}
	return out
}

// modelJSON is one model as --json prints it.
type modelJSON struct {
	ID          string   `json:"model_id"`
	Name        string   `json:"name"`
	Provider    string   `json:"provider"`
	Feature     string   `json:"feature"`
	Type        string   `json:"type"`
	API         string   `json:"api"`
	Endpoint    string   `json:"endpoint"`
	Status      string   `json:"status"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
}

func toJSON(m models.Model) modelJSON {
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	return modelJSON{ID: m.ID, Name: m.Name, Provider: m.Provider, Feature: m.Feature, Type: m.Type,
		API: m.API, Endpoint: m.Endpoint, Status: m.Status, Description: m.Description, Tags: tags}
}

func writeModelsJSON(f *Factory, list []models.Model) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, m := range list {
		if err := enc.Encode(toJSON(m)); err != nil {
			return fmt.Errorf("encode model: %w", err)
		}
	}
	return f.writeJSONLines(buf.Bytes(), "the model list")
}

func writeModelsTable(f *Factory, list []models.Model) error {
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL ID\tAPI\tPROVIDER\tFEATURE\tNAME")
	for _, m := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", output.Safe(m.ID), dash(m.API), dash(output.Safe(m.Provider)),
			dash(output.Safe(m.Feature)), output.Safe(clipText(m.Name, 60)))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func runModelsShow(ctx context.Context, o *ModelsOptions) error {
	mc, base, closeFn, err := o.client()
	if err != nil {
		return err
	}
	defer closeFn()
	d, err := mc.Show(ctx, o.ID)
	if errors.Is(err, models.ErrNotFound) {
		return &FlagError{Err: fmt.Errorf("no model %q at %s; mlab models QUERY searches for one", output.Safe(o.ID), output.Safe(base))}
	}
	if err != nil {
		if api.IsKind(err, api.KindAuth) || ctx.Err() != nil {
			return err
		}
		// Offline: what the cache and the built-in table know.
		m, known := o.known(base)
		if !known {
			return err
		}
		o.f.IO.Warnf("%v", o.f.redact(err.Error()))
		o.f.IO.Warnf("showing what mlab knows of %s without the API", output.Safe(o.ID))
		d = &models.Detail{Model: m}
	}
	if d.API == "" {
		if v, _, known := o.f.Router().Route(d.ID); known {
			d.API = v
		}
	}
	if o.JSON {
		return writeDetailJSON(o.f, d)
	}
	return writeDetail(o.f, d)
}

// known is what the cached list, else the built-in table, says of o.ID.
func (o *ModelsOptions) known(base string) (models.Model, bool) {
	if l, ok, _ := o.f.modelsCache().Load(base); ok {
		for _, m := range l.Models {
			if m.ID == o.ID {
				return m, true
			}
		}
	}
	return models.NewRouter(nil).Lookup(o.ID)
}

func writeDetailJSON(f *Factory, d *models.Detail) error {
	type endpoint struct {
		Name     string         `json:"name"`
		URL      string         `json:"url"`
		Required []string       `json:"required"`
		Params   []models.Param `json:"params"`
	}
	out := struct {
		modelJSON
		Endpoints []endpoint `json:"endpoints"`
	}{modelJSON: toJSON(d.Model), Endpoints: []endpoint{}}
	for _, e := range d.Endpoints {
		ep := endpoint{Name: e.Name, URL: e.URL, Required: e.Required, Params: e.Params}
		if ep.Required == nil {
			ep.Required = []string{}
		}
		if ep.Params == nil {
			ep.Params = []models.Param{}
		}
		out.Endpoints = append(out.Endpoints, ep)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	return f.writeJSONLines(buf.Bytes(), "the model list")
}

func writeDetail(f *Factory, d *models.Detail) error {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-12s %s\n", k+":", output.Safe(v))
		}
	}
	line("model_id", d.ID)
	line("name", d.Name)
	line("api", d.API)
	line("provider", d.Provider)
	line("feature", d.Feature)
	line("type", d.Type)
	line("status", d.Status)
	line("endpoint", d.Endpoint)
	if len(d.Tags) > 0 {
		line("tags", strings.Join(d.Tags, ", "))
	}
	if d.Description != "" {
		fmt.Fprintf(&b, "\n%s\n", output.SafeLines(d.Description))
	}
	for _, e := range d.Endpoints {
		fmt.Fprintf(&b, "\nendpoint %s", output.Safe(e.Name))
		if e.URL != "" {
			fmt.Fprintf(&b, "  %s", output.Safe(e.URL))
		}
		b.WriteString("\n")
		for _, p := range e.Params {
			mark := " "
			if slices.Contains(e.Required, p.Name) {
				mark = "*"
			}
			fmt.Fprintf(&b, "  %s %-24s %s", mark, output.Safe(p.Name), output.Safe(p.Type))
			if len(p.Enum) > 0 {
				fmt.Fprintf(&b, "  one of %s", output.Safe(strings.Join(p.Enum, ", ")))
			}
			if p.Default != nil {
				fmt.Fprintf(&b, "  (default %s)", output.Safe(fmt.Sprint(p.Default)))
			}
			b.WriteString("\n")
		}
	}
	_, err := f.IO.Out.Write([]byte(b.String()))
	return err
}
