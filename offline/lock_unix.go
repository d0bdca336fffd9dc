//go:build unix

package offline

import (
	"errors"
	"os"
	"syscall"
)

// lockedElsewhere reports whether another open file description holds a
// lock on path (bbolt flocks the file it opens), so a file read while
// another process writes it is reported as locked, not corrupt.
func lockedElsewhere(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	if err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	}
	return false
}
