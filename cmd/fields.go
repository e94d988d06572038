package cmd

import (
	"io"
	"os"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
)

// parseFields is api.ParseFields, its errors usage errors (exit 2).
func parseFields(typed, raw []string, stdin io.Reader) (map[string]any, error) {
	m, err := api.ParseFields(typed, raw, stdin)
	if err != nil {
		return nil, &FlagError{Err: err}
	}
	return m, nil
}

// parseParams turns -p name=value flags into path parameters.
func parseParams(ps []string) (map[string]string, error) {
	params := map[string]string{}
	for _, p := range ps {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, flagErrorf("-p %q: want name=value", p)
		}
		params[k] = v
	}
	return params, nil
}

// withPathParams applies path parameters to ep; each one it needs must be
// given (exit 2).
func withPathParams(ep api.Endpoint, params map[string]string) (api.Endpoint, error) {
	for _, name := range ep.PathParams() {
		if params[name] == "" {
			return api.Endpoint{}, flagErrorf("%s needs -p %s=...", ep.Name, name)
		}
	}
	return ep.WithPathParams(params), nil
}

// unwrapPathError drops the *os.PathError wrapper (its text repeats the
// path the message already names).
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
