package issuing

import (
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

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

// DecideGroup decides reqs as one group commit, as the committer decides
// a group taken from the queue, and returns each claim's voucher id or
// its error (a refusal, ErrKeyReused, a store failure).
func DecideGroup(s *Service, reqs []ClaimRequest) ([]terminal.VoucherID, []error) {
	group := make([]*claimJob, len(reqs))
	for i, r := range reqs {
		group[i] = &claimJob{req: r, holder: s.Holder(r.Holder), hash: r.hash(), done: make(chan struct{})}
	}
	s.commit(group)
	ids, errs := make([]terminal.VoucherID, len(reqs)), make([]error, len(reqs))
	for i, j := range group {
		switch {
		case j.err != nil:
			errs[i] = j.err
		case j.refusal != nil:
			errs[i] = j.refusal
		default:
			ids[i] = j.claim.Voucher.ID
		}
	}
	return ids, errs
}
