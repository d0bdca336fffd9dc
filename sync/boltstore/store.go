// Package boltstore is the hub's embedded store: one bbolt file in the
// server's data directory, the default for a county's single voucherd.
// It keeps and finds; the hub decides (hub.Store).
package boltstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	gosync "sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/terminal"
)

// File is the name of the ledger file inside the data directory.
const File = "voucherd.db"

// DefaultLockTimeout is how long Open waits for another process's lock on the file.
const DefaultLockTimeout = 500 * time.Millisecond

// initialMmapSize is how much of the file bbolt maps at open: 1 GiB where
// addresses are 64-bit, bbolt's own growth on 32-bit machines.
const initialMmapSize = (1 << 30) * (strconv.IntSize / 64)

// PageSize is the page size of a new file (an existing one keeps its own).
const PageSize = 16 << 10

// Options configure Open. The zero value opens an existing ledger.
type Options struct {
	// Create makes the directory and file when missing; without it a
	// directory with no ledger is hub.ErrNotInitialised.
	Create bool
	// LockTimeout is how long Open waits for the file lock; zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only (check, backup of a stopped server).
	ReadOnly bool
	// NoSync skips fsync. Tests only: never in production or benchmarks.
	NoSync bool
}

// Store is the hub's ledger in a bbolt file. Safe for concurrent use.
type Store struct {
	db *bolt.DB
	// redeemed filters the voucher index's lookups (nil: read-only, look
	// every voucher up). Only write transactions use it, one at a time.
	redeemed *keyFilter
	// memoKeys filters the memos' lookups likewise (nil with redeemed),
	// their keys hashed with memoSeed.
	memoKeys *keyFilter
	memoSeed maphash.Seed
	// logMu guards log: the voucher index's log as the last commit left it
	// (nil: read it at the next commit).
	logMu gosync.Mutex
	log   *voucherLog
	// slab holds a commit's keys and values (tx.slab), under logMu.
	slab slab
	// logs is the log as readers outside commits last read it.
	logs logCache
	// mlog is the expiring memos as the last commit, or a read under
	// logMu, left them (nil: read them again).
	mlog *memoLog

	issuingOnce gosync.Once // Issuing
	issuing     *Issuing
	issuingErr  error
}

var (
	_ hub.Store        = (*Store)(nil)
	_ hub.MintedReader = (*Store)(nil)
)

// Open opens (with opts.Create, creates) the ledger in dir. A file another
// process holds is hub.ErrLocked; a damaged file is ErrDamaged, never a panic.
func Open(dir string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	path := filepath.Join(dir, File)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !opts.Create:
		return nil, fmt.Errorf("open %s: %w", dir, hub.ErrNotInitialised)
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open hub ledger: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("open hub ledger: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("open %s: not a regular file", path)
	}
	if err == nil {
		if err := walkFile(path); err != nil {
			return nil, fmt.Errorf("open hub ledger %s: %w", path, err)
		}
	}
	db, err := safeOpen(path, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, ReadOnly: opts.ReadOnly,
		// Every commit is still fsync'd; the freelist is rebuilt at open
		// instead of being written at each commit, and kept as a hashmap.
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
		// The file is mapped 1 GiB at once (address space, not memory): a
		// file growing inside it is never remapped, so a commit does not
		// copy every node it holds out of the old map (bbolt dereference)
		// nor wait for open reads to end (etcd maps 10 GiB the same way).
		InitialMmapSize: initialMmapSize,
		// A new file gets pages of 16 KiB instead of 4 KiB: a group
		// commit writes fewer, larger pages (one write call and one
		// spill a page). An existing file keeps the page size in its
		// meta page; bbolt ignores this option for it.
		PageSize: PageSize})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, hub.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open hub ledger %s: %w", path, err)
	}
	s := &Store{db: db}
	if !opts.ReadOnly {
		err = s.guard(func() error {
			return db.Update(func(tx *bolt.Tx) error {
				for _, b := range allBuckets {
					if _, err := tx.CreateBucketIfNotExists(b); err != nil {
						return err
					}
				}
				if _, err := tx.CreateBucketIfNotExists(bVoucherLog); err != nil {
					return err
				}
				_, err := tx.CreateBucketIfNotExists(bMemoLog)
				return err
			})
		})
	}
	if err == nil {
		// A first read of every bucket's root finds a damaged file now
		// rather than in the middle of a sale.
		err = s.guard(func() error { return db.View(probe) })
	}
	if err == nil && !opts.ReadOnly {
		err = s.guard(func() error {
			return db.View(func(tx *bolt.Tx) error {
				s.memoSeed = maphash.MakeSeed()
				s.redeemed, s.memoKeys = buildVoucherFilter(tx.Bucket(bVouchers)), buildMemoFilter(tx.Bucket(bMemos), s.memoSeed)
				// The expiring memos are read now rather than in the first commit.
				_, err := s.memoLogAt(tx)
				return err
			})
		})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open hub ledger %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// view and update run fn in a read or write transaction, translating a
// panic of bbolt on a damaged page into ErrDamaged.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return s.guard(func() error { return s.db.View(fn) })
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.guard(func() error { return s.db.Update(fn) })
}

// Commit runs fn in one bbolt transaction: one fsync. keys are not needed:
// bbolt reads pages in memory and has one writer at a time.
func (s *Store) Commit(ctx context.Context, keys *hub.Keys, fn func(hub.Tx) error) error {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	err := s.update(ctx, func(btx *bolt.Tx) error {
		if s.redeemed != nil && s.redeemed.full() {
			s.redeemed = buildVoucherFilter(btx.Bucket(bVouchers))
		}
		if s.memoKeys != nil && s.memoKeys.full() {
			s.memoKeys = buildMemoFilter(btx.Bucket(bMemos), s.memoSeed)
		}
		t := newTx(btx)
		s.slab.reset() // the last commit's bytes are bbolt's no more
		t.slab = &s.slab
		t.filter, t.memoFilter, t.memoSeed = s.redeemed, s.memoKeys, s.memoSeed
		if t.logB = btx.Bucket(bVoucherLog); t.logB == nil {
			return fmt.Errorf("commit: %w: bucket %s missing", ErrDamaged, bVoucherLog)
		}
		t.logB.FillPercent = appendFill
		if s.log == nil || s.log.seq != t.logB.Sequence() {
			l, err := readLog(t.logB)
			if err != nil {
				return err
			}
			s.log = l
		}
		// The logs are changed in place: dropped below if the commit fails.
		t.log = s.log
		if t.mlogB = btx.Bucket(bMemoLog); t.mlogB == nil {
			return fmt.Errorf("commit: %w: bucket %s missing", ErrDamaged, bMemoLog)
		}
		t.mlogB.FillPercent = appendFill
		ml, err := s.memoLogAt(btx)
		if err != nil {
			return err
		}
		t.mlog, t.mlogDirty = ml, map[string]struct{}{}
		if len(t.log.live) >= voucherLogMax {
			if err := t.mergeLog(); err != nil {
				return err
			}
		}
		if err := fn(t); err != nil {
			return err
		}
		if err := t.putRuns(); err != nil {
			return err
		}
		if err := t.logFlush(); err != nil {
			return err
		}
		t.log.seq = t.logB.Sequence()
		return t.mlogFlush()
	})
	if err != nil {
		s.log, s.mlog = nil, nil
	}
	return err
}

// Head returns a terminal's durable chain head.
func (s *Store) Head(ctx context.Context, terminalID string) (hub.Head, error) {
	var h hub.Head
	err := s.view(func(tx *bolt.Tx) error { h = head(tx, terminalID); return nil })
	return h, err
}

// Record returns one stored record.
func (s *Store) Record(ctx context.Context, terminalID string, seq uint64) (hub.StoredRecord, bool, error) {
	var r hub.StoredRecord
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		r, ok, err = record(tx, terminalID, seq)
		return err
	})
	return r, ok, err
}

// DayRecords walks the day index: "YYYYMMDD" ‖ record key of a run's
// first record → its last sequence (a run of one chain's records of that
// day), or → empty for one record (the index of earlier versions).
func (s *Store) DayRecords(ctx context.Context, day time.Time, merchantID string, fn func(*hub.StoredRecord) error) error {
	return s.view(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bRecords).Cursor()
		prefix := dayKey(day)
		cur := tx.Bucket(bDays).Cursor()
		for k, v := cur.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = cur.Next() {
			key := k[len(prefix):]
			term, first, ok := splitRecordKey(key)
			last := first
			switch {
			case ok && len(v) == 8:
				last = binary.BigEndian.Uint64(v)
			case ok && len(v) == 0:
			default:
				ok = false
			}
			if !ok || last < first {
				return fmt.Errorf("%w: day index %q → %x", ErrDamaged, k, v)
			}
			rk, rv := recs.Seek(key)
			for seq := first; ; seq++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				if t, s, ok := splitRecordKey(rk); !ok || t != term || s != seq {
					return fmt.Errorf("%w: day index %q → %x: no record %s", ErrDamaged, k, v, terminal.RecordID(term, seq))
				}
				r, err := decodeRecord(term, seq, rv)
				if err != nil {
					return err
				}
				if merchantID == "" || r.MerchantID == merchantID {
					if err := fn(&r); err != nil {
						return err
					}
				}
				if seq == last {
					break
				}
				rk, rv = recs.Next()
			}
		}
		return nil
	})
}

// Conflicts walks the conflicts bucket, oldest first.
func (s *Store) Conflicts(ctx context.Context, fn func(*hub.Conflict) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bConflicts).ForEach(func(k, v []byte) error {
			var c hub.Conflict
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("%w: conflict %x: %v", ErrDamaged, k, err)
			}
			return fn(&c)
		})
	})
}

// AddMerchant stores a new merchant.
func (s *Store) AddMerchant(ctx context.Context, m terminal.Merchant) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bMerchants)
		if b.Get([]byte(m.ID)) != nil {
			return fmt.Errorf("merchant %s: %w", m.ID, hub.ErrExists)
		}
		return putJSON(b, []byte(m.ID), &m)
	})
}

// SetBlocked sets a merchant's Blocked flag.
func (s *Store) SetBlocked(ctx context.Context, merchantID string, blocked bool) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return modifyJSON(tx.Bucket(bMerchants), "merchant", merchantID, func(m *terminal.Merchant) { m.Blocked = blocked })
	})
}

// Merchant returns one merchant.
func (s *Store) Merchant(ctx context.Context, id string) (terminal.Merchant, bool, error) {
	var m terminal.Merchant
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(tx.Bucket(bMerchants), []byte(id), &m)
		return err
	})
	return m, ok, err
}

// Merchants returns every merchant, by id.
func (s *Store) Merchants(ctx context.Context) ([]terminal.Merchant, error) {
	return all[terminal.Merchant](s, bMerchants)
}

// AddTerminal stores a new terminal.
func (s *Store) AddTerminal(ctx context.Context, t hub.TerminalRecord) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bMerchants).Get([]byte(t.MerchantID)) == nil {
			return fmt.Errorf("merchant %s: %w", t.MerchantID, hub.ErrUnknown)
		}
		b := tx.Bucket(bTerminals)
		if b.Get([]byte(t.ID)) != nil {
			return fmt.Errorf("terminal %s: %w", t.ID, hub.ErrExists)
		}
		return putJSON(b, []byte(t.ID), &t)
	})
}

// RevokeTerminal marks a terminal revoked.
func (s *Store) RevokeTerminal(ctx context.Context, terminalID string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return modifyJSON(tx.Bucket(bTerminals), "terminal", terminalID, func(t *hub.TerminalRecord) { t.Revoked = true })
	})
}

// Terminal returns one terminal.
func (s *Store) Terminal(ctx context.Context, id string) (hub.TerminalRecord, bool, error) {
	var t hub.TerminalRecord
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(tx.Bucket(bTerminals), []byte(id), &t)
		return err
	})
	return t, ok, err
}

// Terminals returns every terminal, by id.
func (s *Store) Terminals(ctx context.Context) ([]hub.TerminalRecord, error) {
	return all[hub.TerminalRecord](s, bTerminals)
}

// all decodes every JSON value of a bucket, in key order.
func all[T any](s *Store, bucket []byte) ([]T, error) {
	var out []T
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, raw []byte) error {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%w: %s %q: %v", ErrDamaged, bucket, k, err)
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}

// AddMinted stores minted codes, all or none.
func (s *Store) AddMinted(ctx context.Context, codes []hub.Minted) error {
	// Put in key order: bbolt inserts into a node by shifting, so random
	// order would cost O(n²) on a large mint.
	sorted := slices.Clone(codes)
	slices.SortFunc(sorted, func(a, b hub.Minted) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bMinted)
		for _, c := range sorted {
			k := u64(uint64(c.ID))
			if b.Get(k) != nil {
				return fmt.Errorf("voucher %s: %w", c.ID, hub.ErrExists)
			}
			if err := b.Put(k, []byte(c.Code)); err != nil {
				return err
			}
		}
		return nil
	})
}

// MintedCodes sets codes[i] to the code minted for ids[i] ("" for one
// this server did not mint), read in a transaction of its own; a code
// equal to the one codes[i] held is kept, not copied out of the file.
func (s *Store) MintedCodes(ctx context.Context, ids []terminal.VoucherID, codes []string) error {
	if len(codes) != len(ids) {
		return fmt.Errorf("minted codes: %d codes for %d vouchers", len(codes), len(ids))
	}
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bMinted).Cursor()
		var k [8]byte
		for i, id := range ids {
			binary.BigEndian.PutUint64(k[:], uint64(id))
			if v := get(c, k[:]); string(v) != codes[i] {
				codes[i] = string(v)
			}
		}
		return ctx.Err()
	})
}

// Revoke records a revocation: voucher id → Unix seconds.
func (s *Store) Revoke(ctx context.Context, id terminal.VoucherID, at time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bRevoked)
		if b.Get(u64(uint64(id))) != nil {
			return nil
		}
		return b.Put(u64(uint64(id)), u64(uint64(at.Unix())))
	})
}

// Revocations returns every revoked voucher id, ascending.
func (s *Store) Revocations(ctx context.Context) ([]terminal.VoucherID, error) {
	var out []terminal.VoucherID
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bRevoked).ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				out = append(out, terminal.VoucherID(binary.BigEndian.Uint64(k)))
			}
			return nil
		})
	})
	return out, err
}

// Params returns the stored rule parameters.
func (s *Store) Params(ctx context.Context) (terminal.Params, error) {
	var p terminal.Params
	err := s.view(func(tx *bolt.Tx) error { _, err := getJSON(tx.Bucket(bMeta), kParams, &p); return err })
	return p, err
}

// SetParams stores the rule parameters.
func (s *Store) SetParams(ctx context.Context, p terminal.Params) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bMeta), kParams, &p) })
}

// IssuingKeys reads the identity seed (meta/issuer), every key (keys
// bucket) and the current one (meta/current_key).
func (s *Store) IssuingKeys(ctx context.Context) (hub.IssuingKeys, error) {
	var ks hub.IssuingKeys
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		seed := meta.Get(kIssuer)
		if seed == nil {
			return hub.ErrNotInitialised
		}
		if len(seed) != ed25519.SeedSize {
			return fmt.Errorf("%w: issuing key of %d bytes", ErrDamaged, len(seed))
		}
		ks.Identity = ed25519.NewKeyFromSeed(seed)
		cur := meta.Get(kCurrent)
		err := tx.Bucket(bKeys).ForEach(func(k, seed []byte) error {
			if len(seed) != ed25519.SeedSize {
				return fmt.Errorf("%w: issuing key %x of %d bytes", ErrDamaged, k, len(seed))
			}
			priv := ed25519.NewKeyFromSeed(seed)
			if string(k) == string(cur) {
				ks.Current = priv
			}
			ks.All = append(ks.All, priv)
			return nil
		})
		if ks.Current == nil {
			ks.Current = ks.Identity
		}
		return err
	})
	return ks, err
}

// InitKeys stores the identity key.
func (s *Store) InitKeys(ctx context.Context, identity ed25519.PrivateKey) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta.Get(kIssuer) != nil {
			return fmt.Errorf("issuing key: %w", hub.ErrExists)
		}
		if err := meta.Put(kIssuer, identity.Seed()); err != nil {
			return err
		}
		return tx.Bucket(bKeys).Put(keyID(identity), identity.Seed())
	})
}

// AddKey stores another issuing key.
func (s *Store) AddKey(ctx context.Context, key ed25519.PrivateKey, current bool) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bKeys).Put(keyID(key), key.Seed()); err != nil {
			return err
		}
		if !current {
			return nil
		}
		return tx.Bucket(bMeta).Put(kCurrent, keyID(key))
	})
}

func keyID(k ed25519.PrivateKey) []byte {
	return u32(uint32(terminal.KeyIDOf(k.Public().(ed25519.PublicKey))))
}

// ScanMemos calls fn with at most limit memos under prefix after the key
// after, in key order (hub.Store): those of the memos bucket and of the
// log of expiring memos merged. The log's keys are sorted once per walk,
// at its first call (after ""): a memo first put after that is not met.
// The sorted keys are dropped when a call reaches the end.
func (s *Store) ScanMemos(ctx context.Context, prefix, after string, limit int, fn func(key string, v []byte) error) error {
	if limit <= 0 {
		return nil
	}
	// A walk begins: its keys are copied under the lock, sorted outside it
	// (commits wait for the copy only), and kept for the rest of the walk.
	var sorted []string
	var from *memoLog
	if after == "" {
		if err := s.viewMemos(func(_ *bolt.Tx, l *memoLog) error {
			sorted, from = l.liveKeys(prefix), l
			return nil
		}); err != nil {
			return err
		}
		sort.Strings(sorted)
	}
	return s.viewMemos(func(tx *bolt.Tx, l *memoLog) error {
		switch {
		case after == "" && l == from:
			l.scan, l.scanPrefix = sorted, prefix
		case after == "" || l.scan == nil || l.scanPrefix != prefix:
			l.scan, l.scanPrefix = l.liveKeys(prefix), prefix
			sort.Strings(l.scan)
		}
		logged := l.scan[sort.SearchStrings(l.scan, after):]
		if len(logged) > 0 && logged[0] == after {
			logged = logged[1:]
		}
		var c *bolt.Cursor
		var k, v []byte
		if b := tx.Bucket(bMemos); b != nil {
			c = b.Cursor()
			if k, v = c.Seek([]byte(max(prefix, after))); k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for n := 0; n < limit; n++ {
			if k != nil && !bytes.HasPrefix(k, []byte(prefix)) {
				k = nil
			}
			for len(logged) > 0 && !l.has(logged[0]) { // deleted since the walk began
				logged = logged[1:]
			}
			if k == nil && len(logged) == 0 {
				l.scan = nil // the walk is over: its sorted keys are not kept
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			var err error
			if k != nil && (len(logged) == 0 || string(k) <= logged[0]) {
				if len(logged) > 0 && string(k) == logged[0] {
					logged = logged[1:] // the bucket's is read first (Tx.Memo)
				}
				err = fn(string(k), v)
				k, v = c.Next()
			} else {
				err = fn(logged[0], l.live[logged[0]])
				logged = logged[1:]
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
