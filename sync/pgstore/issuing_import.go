package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetIssuingCounters is for voucherd migrate, which copies an embedded
// ledger's issuing side row by row: it stores the holder secret (the key of
// the pseudonyms the copied claims are filed under; kept if one is there)
// and sets the claim and drop counters to the last numbers given, so that
// the next claim, love voucher or drop takes the number after them. A
// voucher id is a keyed permutation of its claim number: a number given
// twice would issue one voucher id twice.
func (is *Issuing) SetIssuingCounters(ctx context.Context, secret []byte, claimSeq, dropSeq uint64) error {
	return pgx.BeginFunc(ctx, is.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", issuingLock); err != nil {
			return err
		}
		if len(secret) > 0 {
			if _, err := tx.Exec(ctx, "INSERT INTO issuing_meta (k, v) VALUES ('holder_secret', $1) ON CONFLICT (k) DO NOTHING", secret); err != nil {
				return err
			}
		}
		for _, c := range []struct {
			seq  string
			last uint64
		}{{"claim_seq", claimSeq}, {"drop_ids", dropSeq}} {
			// setval(seq, n, true): the next nextval is n+1; (1, false): it is 1.
			n, called := int64(c.last), true
			if n == 0 {
				n, called = 1, false
			}
			if _, err := tx.Exec(ctx, "SELECT setval($1::regclass, $2, $3)", c.seq, n, called); err != nil {
				return err
			}
		}
		return nil
	})
}

// IssuingCounters returns the last claim number and drop id given (0 for
// none), for voucherd migrate's check.
func (is *Issuing) IssuingCounters(ctx context.Context) (claimSeq, dropSeq uint64, err error) {
	read := func(q string) (uint64, error) {
		var last int64
		var called bool
		if err := is.s.pool.QueryRow(ctx, q).Scan(&last, &called); err != nil || !called {
			return 0, err
		}
		return uint64(last), nil
	}
	if claimSeq, err = read("SELECT last_value, is_called FROM claim_seq"); err != nil {
		return 0, 0, err
	}
	dropSeq, err = read("SELECT last_value, is_called FROM drop_ids")
	return claimSeq, dropSeq, err
}
