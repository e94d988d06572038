//go:build windows

package journal

import (
	"os"
	"syscall"
	"unsafe"
)

var (
	kernel32         = syscall.NewLazyDLL("kernel32.dll")
	procLockFileEx   = kernel32.NewProc("LockFileEx")
	procUnlockFileEx = kernel32.NewProc("UnlockFileEx")
)

const lockfileExclusiveLock = 0x2

// lockFile locks the first byte range of f with LockFileEx (the golang.org/x/sys
// wrapper, without the dependency): exclusive for writers, shared for
// readers. It blocks until the lock is granted.
func lockFile(f *os.File, exclusive bool) error {
	var flags uintptr
	if exclusive {
		flags = lockfileExclusiveLock
	}
	ol := new(syscall.Overlapped)
	r, _, err := procLockFileEx.Call(f.Fd(), flags, 0, 1, 0, uintptr(unsafe.Pointer(ol)))
	if r == 0 {
		return err
	}
	return nil
}

// unlockFile releases the lock.
func unlockFile(f *os.File) error {
	ol := new(syscall.Overlapped)
	r, _, err := procUnlockFileEx.Call(f.Fd(), 0, 1, 0, uintptr(unsafe.Pointer(ol)))
	if r == 0 {
		return err
	}
	return nil
}

// osLocking reports whether lockFile excludes other processes.
const osLocking = true
