package offline

// SetBeforeCommit installs a hook that runs inside every write transaction
// just before it commits; an error from it rolls the transaction back. Tests
// use it to inject a crash before commit.
func SetBeforeCommit(l *Ledger, f func() error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.beforeCommit = f
}
