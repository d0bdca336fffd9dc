package issuing

import (
	"context"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

// Sweep expires, at now, every claimed voucher whose day has ended and that
// has no accepted redemption on the server: its status becomes expired and
// its value is back in the pool. It returns how many expired. Claims are
// swept in claim order and the position is kept, so a sweep after a
// restart picks up where the last one stopped, and one after a day's end
// touches only that day's claims.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	err := s.store.Update(ctx, func(tx Tx) error {
		n = 0
		from, err := tx.Swept()
		if err != nil {
			return err
		}
		next := from
		var expire []uint64
		err = tx.Claims(from, func(c *Claim) (bool, error) {
			if !terminal.IsExpired(c.Voucher.ValidUntil, now) {
				return false, nil // claims come in time order: the rest are still valid
			}
			next = c.Seq + 1
			if c.Status != terminal.StatusClaimed {
				return true, nil
			}
			redeemed, err := tx.Redeemed(c.Voucher.ID)
			if err == nil && !redeemed {
				expire = append(expire, c.Seq)
			}
			return true, err
		})
		if err != nil {
			return err
		}
		for _, seq := range expire {
			if err := tx.SetStatus(seq, terminal.StatusExpired); err != nil {
				return err
			}
		}
		n = len(expire)
		if next == from {
			return nil
		}
		return tx.SetSwept(next)
	})
	if err == nil && n > 0 {
		s.logf("issuing: %d unredeemed vouchers expired; their value is back in the pool", n)
	}
	return n, err
}

// sweeper runs Sweep every SweepEvery: the first run after a day's end
// expires that day's vouchers.
func (s *Service) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if s.nonces != nil {
				poke(s.nonces.kick) // a day may have begun, another instance added a drop
			}
			if _, err := s.Sweep(s.ctx); err != nil && s.ctx.Err() == nil {
				s.logf("issuing: expiry sweep failed (retried in %v): %v", s.opts.SweepEvery, err)
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// status returns where a claimed voucher stands at now: redeemed if the
// server accepted a redemption of it, returned if the county revoked it
// unredeemed, else its stored status, read as expired once its day has
// ended even before the sweep got to it.
func status(tx Tx, v *terminal.Voucher, stored terminal.ClaimStatus, now time.Time) (terminal.ClaimStatus, error) {
	redeemed, err := tx.Redeemed(v.ID)
	if err != nil || redeemed {
		return terminal.StatusRedeemed, err
	}
	revoked, err := tx.Revoked(v.ID)
	switch {
	case err != nil:
		return "", err
	case revoked:
		return terminal.StatusReturned, nil
	case stored == terminal.StatusClaimed && terminal.IsExpired(v.ValidUntil, now):
		return terminal.StatusExpired, nil
	}
	return stored, nil
}
