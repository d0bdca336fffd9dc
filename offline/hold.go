package offline

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

var _ terminal.Holds = (*Ledger)(nil)

// bucketHolds maps the id of an open checkout to the voucher whose online
// claim it holds (8 bytes). It is created by Open in files of older
// versions. A commit of the checkout's sale deletes its entry in the same
// transaction; what is left at Open was lost with the process.
var bucketHolds = []byte("holds")

// Hold records durably that checkout holds the server's claim of voucher id.
func (l *Ledger) Hold(ctx context.Context, checkout string, id terminal.VoucherID) error {
	err := l.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHolds).Put([]byte(checkout), u64(uint64(id)))
	}, nil)
	if err != nil {
		return fmt.Errorf("hold %s: %w", checkout, err)
	}
	return nil
}

// Unhold forgets checkout's claim.
func (l *Ledger) Unhold(ctx context.Context, checkout string) error {
	err := l.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHolds).Delete([]byte(checkout))
	}, nil)
	if err != nil {
		return fmt.Errorf("unhold %s: %w", checkout, err)
	}
	return nil
}

// Hold is an online claim an open checkout holds.
type Hold struct {
	Checkout string             `json:"checkout"`
	Voucher  terminal.VoucherID `json:"voucher"`
}

// Holds returns the claims recorded by Hold and not released or replaced
// by a committed sale. Right after Open they are the claims of checkouts
// lost when the agent stopped in the middle of a sale.
func (l *Ledger) Holds(ctx context.Context) ([]Hold, error) {
	var out []Hold
	err := l.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHolds).ForEach(func(k, v []byte) error {
			out = append(out, Hold{Checkout: string(k), Voucher: terminal.VoucherID(getU64(v))})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	return out, nil
}
