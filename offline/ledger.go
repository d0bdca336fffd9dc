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
	"syscall"
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
	// DefaultDiskReserve is Options.DiskReserve when it is 0: room for bbolt
	// to grow the file by its 16 MiB step several times.
	DefaultDiskReserve int64 = 64 << 20
	// DefaultEvery is Options.Every when it is 0.
	DefaultEvery = 2 * time.Second
)

// format names the layout stored in the meta bucket. Open upgrades a file
// of formatV1 (every record in the vouchers and days indexes) in place;
// a binary that knows only formatV1 refuses a file of format.
const (
	format   = "voucherpos-offline-v2"
	formatV1 = "voucherpos-offline-v1"
)

// knownFormat reports whether f is a layout this version reads.
func knownFormat(f []byte) bool { return string(f) == format || string(f) == formatV1 }

var (
	// ErrFull is returned by Commit when the ledger file is too close to
	// Options.MaxSize to take another redemption (refunds, acks and state
	// updates still have Options.Reserve). Sync and compact to make room.
	ErrFull = fmt.Errorf("offline ledger is full (离线账本已满，请联网同步后整理): %w", terminal.ErrLedgerFull)
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
	// ErrNotCommitted is returned by Commit when writing the file failed and
	// the ledger, reopened and read again, does not hold the record: the
	// sale is definitely not recorded and may be retried. It wraps the
	// write's error (ErrDiskFull for a full disk).
	ErrNotCommitted = fmt.Errorf("record not committed (未记账，可重试): %w", terminal.ErrNotCommitted)
	// ErrOutcomeUnknown is returned by Commit when writing the file failed
	// after its write phase and the ledger could not read the file again to
	// learn whether the record is there. The ledger is then faulted (Fault)
	// and tries to reopen the file at the next write.
	ErrOutcomeUnknown = fmt.Errorf("commit outcome unknown (记账结果未知): %w", terminal.ErrOutcomeUnknown)
	// ErrDiskFull is returned (wrapped in ErrNotCommitted) when the file
	// system is out of space, and by Commit for a redemption when the free
	// space is below Options.DiskReserve.
	ErrDiskFull = fmt.Errorf("disk is full (磁盘空间不足): %w", terminal.ErrLedgerFull)
	// ErrFault is returned by Commit for an offline redemption while the
	// ledger is faulted: its audit found damage, or its file cannot be read
	// again after a failed write. Fault tells which.
	ErrFault = fmt.Errorf("offline ledger fault (离线账本故障): %w", terminal.ErrLedgerFault)
	// ErrNotRegular is returned by Open for a path that is not a regular
	// file (a FIFO, a device, a directory): opening one could hang the agent.
	ErrNotRegular = errors.New("not a regular file")
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
	// DiskReserve is the free space of the file system below which
	// redemptions are refused with ErrDiskFull (and SyncState stops offline
	// ones), so that acknowledgements, refunds and server state still fit.
	// 0 means DefaultDiskReserve; negative means no check.
	DiskReserve int64
	// DiskWarn is the free space below which Usage reports DiskLow and a
	// warning is logged. 0 means 4 × DiskReserve.
	DiskWarn int64
	// Every is the period of the ledger's background work: writing the
	// clock's high-water mark, measuring the free disk space, auditing the
	// next records. 0 means DefaultEvery; negative means no background work
	// (tools that open a ledger briefly).
	Every time.Duration
	// diskFree measures the free space of the file system holding path;
	// nil means statfs. Tests replace it.
	diskFree func(path string) (int64, error)
}

// Ledger is the terminal's offline ledger. It is safe for concurrent use.
type Ledger struct {
	// db is the open bbolt file. It is replaced when a failed commit makes
	// the ledger reopen the file (reload); readers load it once per call.
	db   atomic.Pointer[bolt.DB]
	opts Options
	pub  ed25519.PublicKey
	log  *slog.Logger
	path string

	// wmu serialises the write transactions with the updates of the
	// in-memory mirror that follow them, so the mirror changes in commit order.
	wmu sync.Mutex
	// Guarded by wmu, the indexes' state that commits extend: vmark is the
	// last seq the vouchers bucket holds, vtail the changes of the records
	// after it (voucher → seq of its live redemption, 0 once a refund
	// returned it), written to the bucket when it reaches vouchersFlush;
	// lastDay is the day key of the last record (a record of another day
	// starts a run in the days bucket).
	vmark   uint64
	vtail   map[terminal.VoucherID]uint64
	lastDay string

	// hist is the history mirror (live vouchers, split-bill and lane
	// memory); it has its own lock and changes in commit order under wmu.
	// A reload replaces it.
	hist atomic.Pointer[terminal.MemHistory]

	mu    sync.RWMutex // guards the fields below
	head  uint64
	hash  [32]byte
	water uint64 // the server's durable watermark
	count int    // unsynced records
	disc  terminal.Fen
	// weights are what each unsynced record (water, head] weighs in disc,
	// in sequence order: an ack subtracts those it acknowledges without
	// reading their bodies again.
	weights []terminal.Fen
	high    time.Time // latest time seen on the terminal's clock
	// highSaved is the high-water time stored in the file; flush writes
	// high when it is later.
	highSaved time.Time
	// lastSync and offset are the clocks of the stored server state
	// (SyncState); stateErr is why Open could not read them.
	lastSync time.Time
	offset   time.Duration
	stateErr error
	usage    Usage
	size     int64 // the data size when usage was measured
	// broken is set when a write failed and the file could not be opened
	// again; the next write tries again. fault is the first fault the audit
	// found (sticky until the agent restarts and audits again).
	broken error
	fault  error
	audit  auditor
	closed bool

	alarmed  atomic.Bool
	diskLow  atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
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
	l := &Ledger{opts: opts, pub: opts.Key.Public().(ed25519.PublicKey), log: opts.Logger, path: path,
		stop: make(chan struct{})}
	if err := l.openFile(); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if opts.Every > 0 {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.background() }()
	}
	return l, nil
}

// openFile opens the file, checks it and rebuilds the mirror from it,
// replacing whatever the ledger held. It is Open's work, and a reload's.
func (l *Ledger) openFile() error {
	db, err := safeOpen(l.path, 0o600, &bolt.Options{
		Timeout: l.opts.LockTimeout, MaxSize: int(l.opts.MaxSize), FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return translate(err)
	}
	m := &Ledger{opts: l.opts, pub: l.pub, log: l.log, path: l.path}
	m.db.Store(db)
	m.hist.Store(terminal.NewMemHistory())
	if err := m.load(); err != nil {
		_ = db.Close()
		return err
	}
	l.mu.Lock()
	l.db.Store(db)
	l.hist.Store(m.hist.Load())
	l.head, l.hash, l.water, l.count, l.disc, l.weights = m.head, m.hash, m.water, m.count, m.disc, m.weights
	if m.high.After(l.high) {
		l.high = m.high
	}
	l.highSaved = m.highSaved
	l.lastSync, l.offset, l.stateErr = m.lastSync, m.offset, m.stateErr
	l.vmark, l.vtail, l.lastDay = m.vmark, m.vtail, m.lastDay
	l.broken = nil
	l.mu.Unlock()
	l.refreshUsage()
	return nil
}

// checkRegular refuses a path that exists and is not a regular file: a
// FIFO in place of the ledger would block the open forever.
func checkRegular(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is a %s", ErrNotRegular, path, fileKind(fi.Mode()))
	}
	return nil
}

// fileKind names the type of a file mode for an error message.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
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
	if o.DiskReserve == 0 {
		o.DiskReserve = DefaultDiskReserve
	}
	if o.DiskWarn == 0 {
		o.DiskWarn = 4 * o.DiskReserve
	}
	if o.Every == 0 {
		o.Every = DefaultEvery
	}
	if o.diskFree == nil {
		o.diskFree = diskFree
	}
	return nil
}

// Close stops the background work, writes the clock's high-water mark and
// closes the file. Calls after Close return ErrClosed.
func (l *Ledger) Close() error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	ferr := l.flushHighWater(context.Background())
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	if err := l.db.Load().Close(); err != nil {
		return fmt.Errorf("close ledger: %w", err)
	}
	if ferr != nil && !errors.Is(ferr, ErrClosed) {
		return fmt.Errorf("close ledger: %w", ferr)
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
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	}
	return err
}

// txError carries an error returned inside a write transaction (by fn, the
// test hook or the context): bbolt rolled the transaction back before
// writing anything. An error from Update without it came from bbolt's
// commit, which may have written part or all of the transaction.
type txError struct{ err error }

func (e *txError) Error() string { return e.err.Error() }
func (e *txError) Unwrap() error { return e.err }

// commitError is what update returns when bbolt's commit failed: the file
// was reopened and re-read (reloaded) or could not be (the ledger is
// broken), so the caller can tell whether its transaction is in the file.
type commitError struct {
	cause    error
	reloaded bool
}

func (e *commitError) Error() string { return e.cause.Error() }
func (e *commitError) Unwrap() error { return e.cause }

// update runs fn in a write transaction with wmu held, then apply (if it
// is not nil) with wmu still held, after a successful commit. A panic in fn
// (a corrupt page) becomes ErrCorrupt. A failed commit is fatal to the bbolt
// handle (after an fsync error only a reopen and a re-read tell what the
// file holds): update reloads the ledger from the file and returns a
// *commitError.
func (l *Ledger) update(ctx context.Context, fn func(tx *bolt.Tx) error, apply func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	if err := l.brokenErr(); err != nil {
		if rerr := l.reload(err); rerr != nil {
			return rerr
		}
	}
	err := l.commitTx(ctx, fn)
	var te *txError
	switch {
	case err == nil:
	case errors.As(err, &te):
		return translate(te.err)
	default:
		cerr := &commitError{cause: translate(err)}
		cerr.reloaded = l.reload(err) == nil
		return cerr
	}
	if apply != nil {
		apply()
	}
	l.refreshUsage()
	return nil
}

// commitTx runs one bbolt write transaction of fn.
func (l *Ledger) commitTx(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return l.db.Load().Update(func(tx *bolt.Tx) (err error) {
		defer func() {
			recoverCorrupt(&err)
			if err != nil {
				err = &txError{err}
			}
		}()
		if err := fn(tx); err != nil {
			return err
		}
		if err := l.putHighWater(tx); err != nil {
			return err
		}
		if l.beforeCommit != nil {
			if err := l.beforeCommit(); err != nil {
				return err
			}
		}
		return ctx.Err() // a caller gone before the commit: nothing is written
	})
}

// reload closes the bbolt handle after a failed commit (cause), opens the
// file again and rebuilds the mirror from what it holds. If the file cannot
// be opened the ledger is broken: reads and writes fail with
// ErrOutcomeUnknown until a later write reopens it. Call with wmu held.
func (l *Ledger) reload(cause error) error {
	l.log.Error("offline ledger write failed: reopening the file to read what it holds (离线账本写入失败，重新读取)",
		"path", l.path, "err", cause)
	if err := l.db.Load().Close(); err != nil {
		l.log.Warn("close after a failed write", "err", err)
	}
	if err := l.openFile(); err != nil {
		err = fmt.Errorf("%w: write failed (%v), then reopening the file failed: %w", ErrOutcomeUnknown, cause, err)
		l.mu.Lock()
		l.broken = err
		l.mu.Unlock()
		l.log.Error("offline ledger cannot be read again (离线账本无法读取)", "path", l.path, "err", err)
		return err
	}
	l.log.Warn("offline ledger reopened after a failed write", "path", l.path, "head", l.headSeq())
	return nil
}

func (l *Ledger) brokenErr() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.broken
}

func (l *Ledger) headSeq() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.head
}

// view runs fn in a read transaction; fn must copy what it keeps and do no
// other I/O. A read that meets the handle a reload just closed runs again
// on the new one.
func (l *Ledger) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.mu.RLock()
		closed, broken := l.closed, l.broken
		l.mu.RUnlock()
		switch {
		case closed:
			return ErrClosed
		case broken != nil:
			return broken
		}
		db := l.db.Load()
		err := safeView(db, fn)
		if errors.Is(err, ErrClosed) && l.db.Load() != db {
			continue
		}
		return err
	}
}

// safeOpen checks the page structure of a bbolt file (checkFile), then opens
// it, turning a fault on a damaged page into ErrCorrupt. A file that fails
// the check while another process holds it gives ErrLocked: it may be in
// the middle of a write.
func safeOpen(path string, mode os.FileMode, o *bolt.Options) (db *bolt.DB, err error) {
	if err := checkRegular(path); err != nil {
		return nil, err
	}
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
