//go:build unix

package offline

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// diskFree returns the space an unprivileged writer may still use on the
// file system holding path.
func diskFree(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // field types differ by platform
}
