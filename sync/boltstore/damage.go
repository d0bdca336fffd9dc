package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// safeOpen opens a bbolt file; bbolt panics on some damaged pages (a
// meta page pointing outside the file, a bad page type), which becomes
// ErrDamaged here.
func safeOpen(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %v", ErrDamaged, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, o)
	if err != nil && !errors.Is(err, os.ErrNotExist) && !isLockTimeout(err) && !errors.Is(err, os.ErrPermission) {
		err = fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return db, err
}

func isLockTimeout(err error) bool { return errors.Is(err, bolterrors.ErrTimeout) }

// guard runs fn, turning a panic of bbolt on a damaged page into ErrDamaged.
func (s *Store) guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, p)
		}
	}()
	return fn()
}

// probe reads the first key of every bucket.
func probe(tx *bolt.Tx) error {
	for _, name := range append(allBuckets[:len(allBuckets):len(allBuckets)], bVoucherLog, bMemoLog) {
		b := tx.Bucket(name)
		if b == nil {
			continue // a read-only open of a file made before the bucket
		}
		b.Cursor().First()
	}
	return nil
}

// Check verifies the whole file: its page structure (walkFile), bbolt's
// page check, every record decoding with its hash linking it to the one
// before (terminal.ChainHash) up to the terminal's head, every live
// redemption naming an accepted record, then every other value decoding.
// It returns every problem found, or nil.
func (s *Store) Check(ctx context.Context) (problems []error) {
	err := s.view(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			problems = append(problems, fmt.Errorf("%w: %v", ErrDamaged, e))
		}
		if len(problems) > 0 {
			return nil // the buckets cannot be trusted to walk
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				problems = append(problems, fmt.Errorf("%w: bucket %s missing", ErrDamaged, name))
			}
		}
		if len(problems) > 0 {
			return nil
		}
		problems = append(problems, checkChains(ctx, tx)...)
		return ctx.Err()
	})
	if err != nil {
		problems = append(problems, err)
	}
	for _, f := range []func(context.Context) error{
		func(ctx context.Context) error { _, err := s.Merchants(ctx); return err },
		func(ctx context.Context) error { _, err := s.Terminals(ctx); return err },
		func(ctx context.Context) error {
			if _, err := s.IssuingKeys(ctx); !errors.Is(err, hub.ErrNotInitialised) {
				return err
			}
			return nil
		},
		func(ctx context.Context) error { _, err := s.Params(ctx); return err },
		func(ctx context.Context) error {
			return s.Conflicts(ctx, func(*hub.Conflict) error { return nil })
		},
	} {
		if len(problems) > 0 {
			break
		}
		if err := f(ctx); err != nil {
			problems = append(problems, err)
		}
	}
	return problems
}

// Backup writes a consistent copy of the ledger to w while the store is in
// use (bbolt's Tx.WriteTo in a read transaction) and returns its size.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) (err error) {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a backup to path (which must not exist), fsyncs it
// and returns its size.
func (s *Store) BackupFile(ctx context.Context, path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	n, err := s.Backup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return 0, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// OpenHub opens the embedded store in dir (creating it with opts.Create)
// and starts a hub over it; the hub closes the store.
func OpenHub(dir string, opts hub.Options) (*hub.Hub, error) {
	st, err := Open(dir, Options{Create: opts.Create})
	if err != nil {
		return nil, err
	}
	h, err := hub.New(st, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	return h, nil
}

// Path returns the ledger file's path in dir.
func Path(dir string) string { return filepath.Join(dir, File) }

// checkChains walks the records in key order (terminal, then sequence):
// each must decode, follow its predecessor (seq+1, its hash over the
// previous hash and its body), and the last be the terminal's head; each
// voucher's live redemption must be an accepted record of that voucher.
func checkChains(ctx context.Context, tx *bolt.Tx) (problems []error) {
	var term string
	var seq uint64
	var prev [32]byte
	end := func() {
		if term == "" {
			return
		}
		if h := head(tx, term); h.Seq != seq || h.Hash != prev {
			problems = append(problems, fmt.Errorf("%w: terminal %s: head at %d, its records end at %d", ErrDamaged, term, h.Seq, seq))
		}
	}
	err := tx.Bucket(bRecords).ForEach(func(k, v []byte) error {
		if len(problems) >= 100 {
			return errors.New("more than 100 problems")
		}
		t, s, ok := splitRecordKey(k)
		if !ok {
			problems = append(problems, fmt.Errorf("%w: record key %q", ErrDamaged, k))
			return nil
		}
		if t != term {
			end()
			term, seq, prev = t, 0, [32]byte{}
		}
		r, err := decodeRecord(t, s, v)
		switch {
		case err != nil:
			problems = append(problems, err)
		case s != seq+1:
			problems = append(problems, fmt.Errorf("%w: record %s follows seq %d", ErrDamaged, r.ID(), seq))
		case terminal.ChainHash(prev, s, r.Body) != r.Hash:
			problems = append(problems, fmt.Errorf("%w: record %s: its hash does not match its body and the record before", ErrDamaged, r.ID()))
		}
		seq, prev = s, r.Hash
		return ctx.Err()
	})
	if err != nil {
		problems = append(problems, err)
	}
	end()
	l, err := readLog(tx.Bucket(bVoucherLog))
	if err == nil {
		err = eachLive(tx, l, func(v terminal.VoucherID, id string) error {
			t, s, ok := terminal.ParseRecordID(id)
			if !ok {
				problems = append(problems, fmt.Errorf("%w: voucher %x redeemed by %q", ErrDamaged, uint64(v), id))
				return nil
			}
			r, found, err := record(tx, t, s)
			if err != nil || !found || r.Result != terminal.Accepted || r.Voucher != v {
				problems = append(problems, fmt.Errorf("%w: voucher %x: its redemption %s is not an accepted record of it", ErrDamaged, uint64(v), id))
			}
			return nil
		})
	}
	if err != nil {
		problems = append(problems, err)
	}
	if _, err := readMemoLog(tx.Bucket(bMemoLog)); err != nil {
		problems = append(problems, err)
	}
	return problems
}
