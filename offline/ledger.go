// Package offline is the terminal's durable ledger on go.etcd.io/bbolt: the
// chained and signed redemption and refund records, the outbox the sync
// client drains, the local single-use index of voucher ids, the per-day
// journal for the merchant's reports, and the server state cached for working
// offline. The layout is described in docs/offline-ledger.md.
package offline

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/voucherpos/voucherpos/terminal"
)

var (
	_ terminal.Ledger     = (*Ledger)(nil)
	_ terminal.History    = (*Ledger)(nil)
	_ terminal.Outbox     = (*Ledger)(nil)
	_ terminal.StateStore = (*Ledger)(nil)
)

// Defaults of Options.
const (
	// DefaultMaxSize is the ledger file's size limit when Options.MaxSize is 0.
	DefaultMaxSize int64 = 1 << 30
	// MinMaxSize is the smallest MaxSize Open accepts.
	MinMaxSize int64 = 1 << 20
	// DefaultLockTimeout is how long Open waits for another process to let
	// go of the file when Options.LockTimeout is 0.
	DefaultLockTimeout = 2 * time.Second
)

// format names the layout stored in the meta bucket.
const format = "voucherpos-offline-v1"

var (
	// ErrFull is returned by Commit when the ledger file is too close to
	// Options.MaxSize to take another redemption (refunds, acks and state
	// updates still have Options.Reserve). Sync and compact to make room.
	ErrFull = errors.New("offline ledger is full (离线账本已满，请联网同步后整理)")
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("offline ledger file is in use by another process")
	// ErrCorrupt is returned when the file is not a readable bbolt file or
	// its ledger structures are inconsistent.
	ErrCorrupt = errors.New("offline ledger file is corrupt")
	// ErrForeign is returned by Open when the file is a bbolt file of
	// something else, or the ledger of another terminal, merchant or key.
	ErrForeign = errors.New("file is not this terminal's offline ledger")
	// ErrClosed is returned by calls on a closed Ledger.
	ErrClosed = errors.New("offline ledger is closed")
	// ErrNoState is returned by LoadState before any SaveState. It matches
	// terminal.ErrNotFound with errors.Is.
	ErrNoState = fmt.Errorf("no server state stored yet: %w", terminal.ErrNotFound)
	// ErrRecord is returned by Commit for a record the ledger cannot take:
	// an unknown kind, amounts out of range, another terminal's or
	// merchant's ids, a redemption without a voucher id.
	ErrRecord = errors.New("invalid ledger record")
	// ErrAck is returned by Ack for a watermark or outcome beyond the
	// highest sequence committed: the server acknowledged what it cannot have.
	ErrAck = errors.New("acknowledgement beyond the ledger's records")
)

// Options configure a Ledger. TerminalID, MerchantID and Key are required.
type Options struct {
	// TerminalID and MerchantID come from the terminal's credential; a file
	// written for other ids is refused with ErrForeign.
	TerminalID string
	MerchantID string
	// Key is the terminal's signing key (from its credential). Every record
	// is signed with it; a file signed with another key is refused.
	Key ed25519.PrivateKey
	// MaxSize bounds the file in bytes. 0 means DefaultMaxSize.
	MaxSize int64
	// AlarmSize is the usage at which the ledger raises its alarm (logged
	// and shown by Usage). 0 means 80% of MaxSize, or 90% of the size at
	// which redemptions are refused if that is lower.
	AlarmSize int64
	// Reserve is the room kept below MaxSize for refunds, acknowledgements
	// and server state once redemptions are refused with ErrFull.
	// 0 means MaxSize/20, at least 256 KiB.
	Reserve int64
	// LockTimeout bounds the wait for a file another process holds.
	// 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// Now is the clock used for records without a time. nil means time.Now.
	Now func() time.Time
	// Logger receives the size alarm and warnings. nil means slog.Default().
	Logger *slog.Logger
}

// Ledger is the terminal's offline ledger. It is safe for concurrent use.
type Ledger struct {
	db   *bolt.DB
	opts Options
	pub  ed25519.PublicKey
	log  *slog.Logger
	path string

	// wmu serialises the write transactions with the updates of the
	// in-memory mirror that follow them, so the mirror changes in commit order.
	wmu sync.Mutex

	// hist is the history mirror (live vouchers, split-bill and lane
	// memory); it has its own lock and changes in commit order under wmu.
	hist *terminal.MemHistory

	mu    sync.RWMutex // guards the fields below
	head  uint64
	hash  [32]byte
	water uint64 // the server's durable watermark
	count int    // unsynced records
	disc  terminal.Fen
	high  time.Time // latest time seen on the terminal's clock
	// lastSync and offset are the clocks of the stored server state
	// (SyncState); stateErr is why Open could not read them.
	lastSync time.Time
	offset   time.Duration
	stateErr error
	usage    Usage
	closed   bool

	alarmed atomic.Bool
	// beforeCommit, if set (tests), runs inside every write transaction
	// just before it commits; an error rolls the transaction back.
	beforeCommit func() error
}

// Open opens (creating if needed) the ledger file at path for the terminal
// of opts, checks that it is this terminal's ledger and rebuilds the
// in-memory history. It waits at most opts.LockTimeout for a file another
// process holds (ErrLocked).
func Open(path string, opts Options) (*Ledger, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	db, err := safeOpen(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout, MaxSize: int(opts.MaxSize), FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, translate(err))
	}
	l := &Ledger{db: db, opts: opts, pub: opts.Key.Public().(ed25519.PublicKey), log: opts.Logger, path: path,
		hist: terminal.NewMemHistory()}
	if err := l.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return l, nil
}

func (o *Options) setDefaults() error {
	switch {
	case o.TerminalID == "" || o.MerchantID == "":
		return fmt.Errorf("terminal and merchant ids are required")
	case len(o.Key) != ed25519.PrivateKeySize:
		return fmt.Errorf("terminal key: want an Ed25519 private key of %d bytes, got %d", ed25519.PrivateKeySize, len(o.Key))
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxSize < MinMaxSize {
		return fmt.Errorf("max size %d below the minimum %d", o.MaxSize, MinMaxSize)
	}
	if o.Reserve == 0 {
		o.Reserve = max(o.MaxSize/20, 256<<10)
	}
	if o.Reserve < 0 || o.Reserve >= o.MaxSize/2 {
		return fmt.Errorf("reserve %d must be below half of max size %d", o.Reserve, o.MaxSize)
	}
	if o.AlarmSize == 0 {
		o.AlarmSize = min(o.MaxSize/10*8, (o.MaxSize-o.Reserve)/10*9)
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Close closes the file. Calls after Close return ErrClosed.
func (l *Ledger) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close ledger: %w", err)
	}
	return nil
}

// Path returns the ledger file's path.
func (l *Ledger) Path() string { return l.path }

// PublicKey returns the terminal's public key, which verifies the chain.
func (l *Ledger) PublicKey() ed25519.PublicKey { return l.pub }

// translate maps bbolt's errors to the package's.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %v", ErrLocked, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	case errors.Is(err, berrors.ErrMaxSizeReached):
		return fmt.Errorf("%w: %v", ErrFull, err)
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	}
	return err
}

// update runs fn in a write transaction with wmu held, then apply (if it
// is not nil) with wmu still held, after a successful commit. A panic in fn
// (a corrupt page) becomes ErrCorrupt.
func (l *Ledger) update(ctx context.Context, fn func(tx *bolt.Tx) error, apply func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err := l.db.Update(func(tx *bolt.Tx) (err error) {
		defer recoverCorrupt(&err)
		if err := fn(tx); err != nil {
			return err
		}
		if l.beforeCommit != nil {
			if err := l.beforeCommit(); err != nil {
				return err
			}
		}
		return ctx.Err() // a caller gone before the commit: nothing is written
	})
	if err != nil {
		return translate(err)
	}
	if apply != nil {
		apply()
	}
	l.refreshUsage()
	return nil
}

// view runs fn in a read transaction; fn must copy what it keeps and do no
// other I/O.
func (l *Ledger) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.isClosed() {
		return ErrClosed
	}
	return safeView(l.db, fn)
}

// safeOpen checks the page structure of a bbolt file (checkFile), then opens
// it, turning a fault on a damaged page into ErrCorrupt. A file that fails
// the check while another process holds it gives ErrLocked: it may be in
// the middle of a write.
func safeOpen(path string, mode os.FileMode, o *bolt.Options) (db *bolt.DB, err error) {
	if err := checkFile(path); err != nil {
		if lockedElsewhere(path) {
			return nil, fmt.Errorf("%w (%v)", ErrLocked, err)
		}
		return nil, err
	}
	defer recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return bolt.Open(path, mode, o)
}

// safeView runs fn in a read transaction of db, turning a fault on a
// damaged page into ErrCorrupt.
func safeView(db *bolt.DB, fn func(tx *bolt.Tx) error) error {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err := db.View(func(tx *bolt.Tx) (err error) {
		defer recoverCorrupt(&err)
		return fn(tx)
	})
	return translate(err)
}

// recoverCorrupt turns a panic inside a transaction into ErrCorrupt. bbolt
// trusts the file's page headers; a damaged one can make it panic or read
// outside the mapping. The transactions run with debug.SetPanicOnFault, so
// such a fault is a panic recovered here, not a crash of the agent.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %v", ErrCorrupt, r)
	}
}

func (l *Ledger) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}
