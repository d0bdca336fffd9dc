package offline

// SetBeforeCommit installs a hook that runs inside every write transaction
// just before it commits; an error from it rolls the transaction back. Tests
// use it to inject a crash before commit.
func SetBeforeCommit(l *Ledger, f func() error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.beforeCommit = f
}

// WithDiskFree makes the ledger measure the free disk space with f.
func WithDiskFree(f func(path string) (int64, error)) func(*Options) {
	return func(o *Options) { o.diskFree = f }
}

// RefreshDisk measures the free disk space now, as the background tick does.
func RefreshDisk(l *Ledger) { l.refreshDisk() }

// VouchersFlush is how many changes the single-use index keeps in its tail.
const VouchersFlush = vouchersFlush

// FormatV1 is the layout of files written before the indexes' tails.
const FormatV1 = formatV1
