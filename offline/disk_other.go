//go:build !unix

package offline

import "errors"

// diskFree cannot measure on this platform; the disk checks are skipped.
func diskFree(string) (int64, error) { return 0, errors.ErrUnsupported }
