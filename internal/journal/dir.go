package journal

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// EnvStateDir overrides the state directory that holds the journal.
const EnvStateDir = "MLAB_STATE_DIR"

// DefaultDir returns the directory of the journal:
//
//   - $MLAB_STATE_DIR when set;
//   - else $XDG_STATE_HOME/mlab when XDG_STATE_HOME is an absolute path;
//   - else ~/.local/state/mlab on Linux and the other Unixes;
//   - else, on macOS and Windows, os.UserConfigDir()/mlab/state
//     (~/Library/Application Support/mlab/state, %AppData%\mlab\state).
//
// getenv is the process environment (os.Getenv, or a fake in tests); HOME
// and AppData are read through it too, with os.UserHomeDir and
// os.UserConfigDir as the fallback.
func DefaultDir(getenv func(string) string) (string, error) {
	return defaultDir(getenv, runtime.GOOS)
}

func defaultDir(getenv func(string) string, goos string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if d := getenv(EnvStateDir); d != "" {
		return d, nil
	}
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "mlab"), nil
	}
	switch goos {
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "mlab", "state"), nil
		}
		return userConfigState()
	case "windows":
		if a := getenv("AppData"); a != "" {
			return filepath.Join(a, "mlab", "state"), nil
		}
		return userConfigState()
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil || h == "" {
			return "", errors.New("cannot find the state directory: HOME is not set (set " + EnvStateDir + ")")
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "mlab"), nil
}

func userConfigState() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", errors.New("cannot find the state directory: " + err.Error() + " (set " + EnvStateDir + ")")
	}
	return filepath.Join(d, "mlab", "state"), nil
}
