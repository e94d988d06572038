//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package journal

import (
	"os"
	"syscall"
)

// lockFile takes an advisory flock(2) on f: exclusive for writers, shared
// for readers. It blocks until the lock is granted. flock locks belong to
// the open file description, so two descriptors opened separately exclude
// each other even inside one process.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// unlockFile releases the lock (closing f would too).
func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// osLocking reports whether lockFile excludes other processes.
const osLocking = true
