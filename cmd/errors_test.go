package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/tunnel"
)

func TestExitCodeFor(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flagErrorf("bad"), 2},
		{&ConfigError{Msg: "no key"}, 2},
		{wrap(tunnel.ErrNoAuthtoken), 2},
		{&FlagError{Err: errors.New(`unknown command "x" for "mlab"`)}, 2},
		{wrap(&job.FailedError{ID: "1", Response: &api.Response{Message: "boom"}}), 1},
		{wrap(&api.Error{Kind: api.KindRejected}), 1},
		{wrap(&api.Error{Kind: api.KindRejected, Refused: true}), 4},
		{wrap(&runner.StoppedError{ID: "1", Err: job.ErrTimeout}), 3},
		{wrap(&runner.StoppedError{ID: "1", Err: context.Canceled}), 130},
		{wrap(context.Canceled), 130},
		{wrap(&api.Error{Kind: api.KindAuth, HTTPStatus: 401}), 4},
		{wrap(&api.Error{Kind: api.KindCredits}), 4},
		{wrap(&api.Error{Kind: api.KindRateLimited}), 4},
		{wrap(&api.Error{Kind: api.KindServer}), 4},
		{wrap(&api.Error{Kind: api.KindNetwork}), 4},
		{wrap(&tunnel.Error{Mode: tunnel.ModeNgrok}), 4},
		{wrap(&tunnel.Error{Mode: tunnel.ModeNgrok, Err: context.Canceled}), 4},
		{&runner.DownloadError{Err: errors.New("404")}, 4},
		{quietExit(3, errors.New("x")), 3},
		{withHint(wrap(&api.Error{Kind: api.KindNetwork}), "try again"), 4},
		{wrap(&receiver.LocalError{Err: errors.New("address in use")}), 2},
		{errors.New("something else"), 1},
	}
	for _, c := range cases {
		if got := exitCodeFor(c.err); got != c.want {
			t.Errorf("exitCodeFor(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestHintFor: the hints that name flags are cmd's, not the engine's.
func TestHintFor(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("submit: %w", &api.Error{Kind: api.KindAuth, HTTPStatus: 401}), "--api-key"},
		{fmt.Errorf("open: %w", &receiver.LocalError{Err: errors.New("address already in use")}), "choose another --listen address"},
		{fmt.Errorf("open: %w", &tunnel.Error{Mode: tunnel.ModeNgrok, Hint: "check your network or firewall"}), "check your network or firewall; or use --tunnel none"},
		{&tunnel.Error{Mode: tunnel.ModeNgrok}, "use --tunnel none to poll for results"},
		{withHint(errors.New("x"), "resume with: mlab wait 1"), "resume with: mlab wait 1"},
		{&ConfigError{Msg: "m", Hint: "set X"}, "set X"},
	}
	for _, c := range cases {
		if got := hintFor(c.err); !strings.Contains(got, c.want) {
			t.Errorf("hintFor(%v) = %q, want %q in it", c.err, got, c.want)
		}
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func stringReader(s string) io.Reader { return strings.NewReader(s) }
