package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckOutputDir checks, before anything is submitted (and paid for),
// that dir can receive downloads: it is a directory, or can be created as
// one, and files can be written there. It creates nothing that stays: a
// missing directory is made by the download, once there is something to
// put in it. The error names the path and why (it is a file, a part of the
// path is a file, it cannot be written).
func CheckOutputDir(dir string) error {
	if dir == "" {
		return errors.New("empty directory name")
	}
	want := filepath.Clean(dir)
	for p := want; ; {
		st, err := os.Stat(p)
		switch {
		case err == nil && !st.IsDir() && p == want:
			return fmt.Errorf("%s is a file, not a directory", dir)
		case err == nil && !st.IsDir():
			return fmt.Errorf("%s is a file, so %s cannot be made a directory", p, dir)
		case err == nil:
			return writable(p, dir)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("%s: %v", dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Errorf("%s: no existing directory to create it in", dir)
		}
		p = parent
	}
}

// writable checks that a file can be created in the existing directory
// p (on the way to dir) by creating one and removing it.
func writable(p, dir string) error {
	f, err := os.CreateTemp(p, ".mlab-check-*")
	if err != nil {
		if p == filepath.Clean(dir) {
			return fmt.Errorf("cannot write in %s", dir)
		}
		return fmt.Errorf("cannot create %s: %s is not writable", dir, p)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
