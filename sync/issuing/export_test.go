package issuing

import "time"

// SkipSigning makes s leave codes empty, so that a benchmark measures the
// decision and the group commit alone.
func SkipSigning(s *Service) { s.skipSign = true }

// WaitNonces waits until s has at least n signing nonces ready (made while
// no claims come, before the drop).
func WaitNonces(s *Service, n int) {
	for s.nonces != nil && len(s.nonces.pool) < n {
		time.Sleep(time.Millisecond)
	}
}
