package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/output"
)

func TestNewCmdImg(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		wantErr  bool
		endpoint string
		check    func(t *testing.T, o *JobCmdOptions, body map[string]any)
	}{
		{name: "prompt only", args: []string{"a lighthouse"}, endpoint: "text2img", check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
			if b["prompt"] != "a lighthouse" || b["model_id"] != "flux" {
				t.Fatalf("body %v", b)
			}
			if _, ok := b["seed"]; ok {
				t.Fatal("seed sent although not given")
			}
			if o.Job.Wait || o.Job.Timeout != 30*time.Minute {
				t.Fatalf("defaults: wait=%v timeout=%v", o.Job.Wait, o.Job.Timeout)
			}
		}},
		{name: "typed flags", args: []string{"p", "--model", "sdxl", "--width", "512", "--height", "768", "--samples", "2", "--seed", "0", "--steps", "30", "--guidance", "7.5", "-n", "blurry"}, endpoint: "text2img",
			check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
				want := map[string]any{"model_id": "sdxl", "width": 512, "height": 768, "samples": 2, "seed": int64(0), "num_inference_steps": 30, "guidance_scale": 7.5, "negative_prompt": "blurry"}
				for k, v := range want {
					if b[k] != v {
						t.Fatalf("%s = %#v, want %#v", k, b[k], v)
					}
				}
			}},
		{name: "img2img", args: []string{"p", "--init-image", "https://x/i.png"}, endpoint: "img2img"},
		{name: "inpaint", args: []string{"p", "--init-image", "https://x/i.png", "--mask-image", "https://x/m.png"}, endpoint: "inpaint"},
		{name: "controlnet", args: []string{"p", "--init-image", "https://x/i.png", "--controlnet-model", "canny"}, endpoint: "controlnet"},
		{name: "-F wins over typed flags", args: []string{"p", "--width", "512", "-F", "width=640", "-F", "enhance_prompt=true", "-F", "lora=null", "-f", "seed=12"}, endpoint: "text2img",
			check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
				if b["width"] != json.Number("640") || b["enhance_prompt"] != true || b["lora"] != nil || b["seed"] != "12" {
					t.Fatalf("body %v", b)
				}
				if _, ok := b["lora"]; !ok {
					t.Fatal("lora=null dropped")
				}
			}},
		{name: "wait flags", args: []string{"p", "--wait", "--timeout", "3s", "-o", "out", "--json", "--tunnel", "local", "--listen", "127.0.0.1:9999"}, endpoint: "text2img",
			check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
				j := o.Job
				if !j.Wait || j.Timeout != 3*time.Second || j.OutputDir != "out" || !j.JSON || j.Tunnel != "local" || j.Listen != "127.0.0.1:9999" {
					t.Fatalf("job options %+v", j)
				}
			}},
		{name: "no prompt", args: []string{}, wantErr: true},
		{name: "two prompts", args: []string{"a", "b"}, wantErr: true},
		{name: "blank prompt", args: []string{"  "}, wantErr: true},
		{name: "mask without init", args: []string{"p", "--mask-image", "m"}, wantErr: true},
		{name: "webhook with wait", args: []string{"p", "--wait", "--webhook", "https://x/h"}, wantErr: true},
		{name: "webhook not a URL", args: []string{"p", "--webhook", "nope"}, wantErr: true},
		{name: "tunnel without wait", args: []string{"p", "--tunnel", "local"}, wantErr: true},
		{name: "bad tunnel", args: []string{"p", "--wait", "--tunnel", "pigeon"}, wantErr: true},
		{name: "bad field", args: []string{"p", "-F", "novalue"}, wantErr: false, endpoint: "text2img"}, // caught when the body is built
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ios, _, _, _ := output.Test()
			f := NewFactory(ios, BuildInfo{Version: "t"}, func(string) string { return "" })
			var got *JobCmdOptions
			cmd := newCmdImg(f, func(_ context.Context, o *JobCmdOptions) error { got = o; return nil })
			cmd.SetArgs(c.args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if c.wantErr {
				var fe *FlagError
				if err == nil || !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a FlagError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			endpoint, err := got.endpoint()
			if err != nil {
				t.Fatal(err)
			}
			if endpoint != c.endpoint {
				t.Fatalf("endpoint %s, want %s", endpoint, c.endpoint)
			}
			body, err := got.body()
			if c.name == "bad field" {
				var fe *FlagError
				if !errors.As(err, &fe) {
					t.Fatalf("body err = %v, want FlagError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, got, body)
			}
		})
	}
}

func TestParseFieldsReadsFiles(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/prompt.txt"
	if err := writeFile(path, "from a file\n"); err != nil {
		t.Fatal(err)
	}
	got, err := parseFields([]string{"prompt=@" + path, "stdin=@-", "n=3", "f=1.5", "hex=0x10", "s=abc"}, nil, stringReader("piped"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"prompt": "from a file", "stdin": "piped", "n": json.Number("3"), "f": json.Number("1.5"), "hex": "0x10", "s": "abc"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if _, err := parseFields([]string{"x=@" + dir + "/missing"}, nil, nil); err == nil {
		t.Fatal("missing file accepted")
	}
}
