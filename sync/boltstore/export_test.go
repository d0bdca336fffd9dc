package boltstore

// SetFilterMinBits makes the voucher filters opened from now on start with
// bits bits (a power of two, at least 64) and returns what restores the default.
func SetFilterMinBits(bits int) (restore func()) {
	return set(&filterMinBits, bits)
}

// SetVoucherLogMax makes commits move the voucher index's log into the
// index once it holds n redemptions, and returns what restores the default.
func SetVoucherLogMax(n int) (restore func()) {
	return set(&voucherLogMax, n)
}

// VoucherLogLen returns how many redemptions the voucher index's log holds
// as the last commit left it (-1: not read since the store was opened).
func VoucherLogLen(s *Store) int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if s.log == nil {
		return -1
	}
	return len(s.log.live)
}

// SetMemoLogSlack makes the log of expiring memos be written again once it
// holds n more entries than twice its live memos, and returns what
// restores the default.
func SetMemoLogSlack(n int) (restore func()) {
	return set(&memoLogSlack, n)
}

// SetMemoLogPiece makes values of the log of expiring memos end once they
// reach n bytes, and returns what restores the default.
func SetMemoLogPiece(n int) (restore func()) {
	return set(&memoLogPiece, n)
}

// MemoLogLen returns the live memos and the entries of the log of expiring
// memos as the last commit left it (-1, -1: not read since the store was opened).
func MemoLogLen(s *Store) (live, entries int) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if s.mlog == nil {
		return -1, -1
	}
	return len(s.mlog.live), s.mlog.entries
}

// set sets *p to v and returns what sets it back.
func set[T any](p *T, v T) (restore func()) {
	old := *p
	*p = v
	return func() { *p = old }
}
