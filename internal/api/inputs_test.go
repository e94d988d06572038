package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsInputField(t *testing.T) {
	for name, want := range map[string]bool{
		"image": true, "images": true, "audio": true, "video": true,
		"init_image": true, "mask_image": true, "init_audio": true, "target_audio": true,
		"init_video": true, "reference_images": true,
		"prompt": false, "imagery": false, "model_id": false, "": false,
	} {
		if got := IsInputField(name); got != want {
			t.Errorf("IsInputField(%q) = %v, want %v", name, got, want)
		}
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLocalInputsFindsLocalPathsInOrder(t *testing.T) {
	a, b := writeTemp(t, "a.png", "a"), writeTemp(t, "b.wav", "b")
	body := map[string]any{
		"prompt":       "./not-an-input-field",
		"init_image":   a,
		"images":       []any{"https://example.com/x.png", b, 3},
		"mask_image":   "data:image/png;base64,AAAA",
		"target_audio": []string{"HTTP://EXAMPLE.COM/v.mp3", a},
		"face_image":   "",
	}
	got, err := LocalInputs(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []LocalInput{{Field: "images", Index: 1, Path: b}, {Field: "init_image", Index: -1, Path: a}, {Field: "target_audio", Index: 1, Path: a}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("LocalInputs = %v, want %v", got, want)
	}
}

func TestLocalInputsRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.png")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxUploadBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	missing := filepath.Join(dir, "missing.png")
	cases := []struct {
		body map[string]any
		is   error
		text string
	}{
		{map[string]any{"init_image": missing}, fs.ErrNotExist, "init_image: cannot read " + missing + ": no such file or directory"},
		{map[string]any{"images": []string{"https://x/1.png", dir}}, errNotRegular, "images: " + dir + " is not a regular file"},
		{map[string]any{"init_audio": big}, ErrTooLarge, fmt.Sprintf("init_audio: %s is %d bytes; uploads are limited to 5 MB (host it somewhere and pass its URL)", big, MaxUploadBytes+1)},
	}
	for _, c := range cases {
		_, err := LocalInputs(c.body)
		var ie *InputError
		if !errors.As(err, &ie) || !errors.Is(err, c.is) {
			t.Fatalf("LocalInputs(%v) = %v, want an *InputError wrapping %v", c.body, err, c.is)
		}
		if err.Error() != c.text {
			t.Errorf("error text %q, want %q", err.Error(), c.text)
		}
	}
}

type fakeUploader struct {
	calls []string // media types, in order
	fail  error
}

func (u *fakeUploader) Upload(_ context.Context, data []byte, mime string) (string, error) {
	if u.fail != nil {
		return "", u.fail
	}
	u.calls = append(u.calls, mime)
	return fmt.Sprintf("https://cdn.example/%d-%s", len(u.calls), data), nil
}

func TestUploadInputsUploadsEachFileOnce(t *testing.T) {
	png := writeTemp(t, "in.png", "img")
	txt := writeTemp(t, "notes", "plain text")
	body := map[string]any{"init_image": png, "images": []any{png, txt}, "mask_image": []string{txt}}
	inputs, err := LocalInputs(body)
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUploader{}
	var seen []string
	err = UploadInputs(context.Background(), u, body, inputs, func(in LocalInput, size int) {
		seen = append(seen, fmt.Sprintf("%s %s %d", in.Field, filepath.Base(in.Path), size))
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(u.calls, ",") != "image/png,text/plain" {
		t.Fatalf("uploads %v, want one png and one sniffed text/plain", u.calls)
	}
	if strings.Join(seen, "; ") != "images in.png 3; images notes 10" {
		t.Fatalf("callbacks %q", seen)
	}
	if body["init_image"] != "https://cdn.example/1-img" {
		t.Errorf("init_image = %v", body["init_image"])
	}
	if imgs := body["images"].([]any); imgs[0] != "https://cdn.example/1-img" || imgs[1] != "https://cdn.example/2-plain text" {
		t.Errorf("images = %v", imgs)
	}
	if m := body["mask_image"].([]string); m[0] != "https://cdn.example/2-plain text" {
		t.Errorf("mask_image = %v", m)
	}
}

func TestUploadInputsErrors(t *testing.T) {
	path := writeTemp(t, "gone.png", "x")
	inputs := []LocalInput{{Field: "init_image", Index: -1, Path: path}}
	boom := errors.New("boom")
	err := UploadInputs(context.Background(), &fakeUploader{fail: boom}, map[string]any{"init_image": path}, inputs, nil)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "upload "+path+": ") {
		t.Fatalf("upload failure = %v", err)
	}
	os.Remove(path)
	err = UploadInputs(context.Background(), &fakeUploader{}, map[string]any{"init_image": path}, inputs, nil)
	var ie *InputError
	if !errors.As(err, &ie) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("vanished file = %v, want an *InputError", err)
	}
}
