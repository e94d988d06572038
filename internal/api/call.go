package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// MaxUploadBytes is the largest file base64_to_url accepts (5 MB).
const MaxUploadBytes = 5 << 20

// ErrTooLarge is wrapped by Upload when the data exceeds MaxUploadBytes.
var ErrTooLarge = errors.New("file is larger than the 5 MB upload limit")

// uploadPath is ModelsLab's base64 upload endpoint.
const uploadPath = "/api/v6/base64_to_url"

// Call makes one generic JSON call (workflow list/show/cancel,
// fine_tune_status by hand, …) and returns the raw answer.
//
// path is relative to BaseURL ("/api/v1/workflows"). A GET (or HEAD) sends
// no body and carries the key in the "key" header whatever auth says; body
// must then be nil. Any other method sends body as JSON (nil is {}), with the
// key placed as auth says. GETs are retried like [Client.Fetch] (network
// errors, 5xx, 429); other methods like [Client.Submit] (429, 503, dial
// errors only).
//
// A 2xx answer that is JSON (or empty) is returned as is, unless it is an
// object whose status is error or failed. Anything else is an *Error whose
// Kind is chosen as for Submit and Fetch. When ctx ends, the error wraps
// ctx.Err().
func (c *Client) Call(ctx context.Context, method, path string, auth AuthStyle, body map[string]any) (json.RawMessage, error) {
	method = strings.ToUpper(strings.TrimSpace(method))
	if method == "" {
		method = http.MethodGet
	}
	op := method + " " + path
	if strings.Contains(path, "://") {
		return nil, fmt.Errorf("%s: path must be relative to the base URL", op)
	}
	noBody := method == http.MethodGet || method == http.MethodHead
	if noBody && body != nil {
		return nil, fmt.Errorf("%s: a %s request takes no body", op, method)
	}
	rq := request{
		method: method, auth: auth, body: body, noBody: noBody,
		target: c.base + "/" + strings.TrimLeft(path, "/"),
	}
	retryable := submitRetryable
	if noBody {
		retryable = fetchRetryable
	}
	return retry(ctx, c, c.maxAttempts, op, rq, callResult, retryable)
}

// callResult accepts a 2xx answer that is empty, a JSON object whose status
// is not error/failed, or any other valid JSON value.
func callResult(x exchange) (json.RawMessage, bool) {
	if x.err != nil || x.code < 200 || x.code > 299 {
		return nil, false
	}
	trimmed := bytes.TrimSpace(x.body)
	switch {
	case len(trimmed) == 0:
		return json.RawMessage{}, true
	case x.resp != nil:
		if x.resp.State() == StateFailed {
			return nil, false
		}
		return json.RawMessage(x.body), true
	case json.Valid(trimmed):
		return json.RawMessage(x.body), true
	}
	return nil, false
}

// Upload sends data to ModelsLab's base64_to_url service and returns the
// temporary URL it is stored at (links expire after about 24 hours). mime
// is the data's media type ("image/png"; "" means
// application/octet-stream; a type with a comma is refused). Data over MaxUploadBytes is refused before
// anything is sent, with an error wrapping ErrTooLarge. The call is retried
// like [Client.Submit]; failures are an *Error.
func (c *Client) Upload(ctx context.Context, data []byte, mime string) (string, error) {
	const op = "upload"
	if len(data) > MaxUploadBytes {
		return "", fmt.Errorf("%s: %d bytes: %w", op, len(data), ErrTooLarge)
	}
	mime = strings.TrimSpace(mime)
	if mime == "" {
		mime = "application/octet-stream"
	}
	if strings.ContainsAny(mime, ",\r\n") {
		return "", fmt.Errorf("%s: invalid media type %q", op, mime)
	}
	body := map[string]any{
		"base64_string": "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data),
	}
	r, err := c.submit(ctx, op, request{
		method: http.MethodPost, auth: AuthBody, target: c.base + uploadPath, body: body, decode: Decode,
	})
	if err != nil {
		return "", err
	}
	for _, u := range r.Output {
		if u = strings.TrimSpace(u); u != "" {
			return u, nil
		}
	}
	return "", &Error{Op: op, Kind: KindDecode, Status: r.Status, Message: Redact(
		fmt.Sprintf("the answer has no URL (status %q)", r.Status), c.secrets(nil)...), secrets: c.secrets(nil)}
}
