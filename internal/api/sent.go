package api

import (
	"errors"
	"net/http"
	"strings"
)

// NotSubmitted reports whether err, returned by [Client.Submit], proves
// that the API created no job, so that nothing can have been paid for:
// the server answered with an HTTP status that takes no job (any 4xx,
// 429 included, and 503), or with status "error" and a 2xx status (a
// refusal such as an invalid key or a missing field), or the request never
// left (a dial error, or a path parameter left unset). Everything else —
// no answer in time, a connection broken after the request was sent, any
// other 5xx, an answer without an id — may hide a job the API accepted.
// This is the notion [Client.Submit] retries on, and the one a journal
// needs to drop a job written down before its submit.
func NotSubmitted(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.HTTPStatus == 0:
		// No answer: only a failed dial, or a request refused before
		// anything was sent, proves that nothing arrived.
		return (e.Kind == KindNetwork && e.Err != nil && isDialError(e.Err)) ||
			(e.Kind != KindNetwork && e.Kind != KindDecode && e.Err == nil)
	case e.HTTPStatus >= 400 && e.HTTPStatus <= 499, e.HTTPStatus == http.StatusServiceUnavailable:
		return true
	case e.HTTPStatus >= 200 && e.HTTPStatus <= 299:
		return strings.EqualFold(strings.TrimSpace(e.Status), "error")
	}
	return false
}
