package offline

import (
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/voucherpos/voucherpos/terminal"
)

// Usage is how full the ledger file is, for the agent's status screen.
type Usage struct {
	// FileBytes is the file's size on disk. bbolt never shrinks a file:
	// pages freed by pruning are reused, and only Compact gives them back.
	FileBytes int64 `json:"file_bytes"`
	// UsedBytes is the space holding data (the file's pages minus its free pages).
	UsedBytes int64 `json:"used_bytes"`
	MaxSize   int64 `json:"max_size"`
	AlarmSize int64 `json:"alarm_size"`
	// Alarm is true from AlarmSize on: sync, then plan a compaction.
	Alarm bool `json:"alarm"`
	// Full is true when redemptions are refused with ErrFull (UsedBytes has
	// reached MaxSize minus the reserve).
	Full bool `json:"full"`
}

// Usage returns the ledger's size figures as of the last write.
func (l *Ledger) Usage() Usage {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.usage
}

// redemptionLimit and refundLimit are the used sizes at which Commit
// refuses records of each kind: refunds may use half of the reserve, the
// rest is for acknowledgements (which free space) and server state.
func (l *Ledger) limit(k terminal.Kind) int64 {
	if k == terminal.KindRefund {
		return l.opts.MaxSize - l.opts.Reserve/2
	}
	return l.opts.MaxSize - l.opts.Reserve
}

// refreshUsage measures the file after a write and raises or clears the alarm.
func (l *Ledger) refreshUsage() {
	var size int64
	if err := l.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		return
	}
	st := l.db.Stats()
	page := int64(l.db.Info().PageSize)
	u := Usage{UsedBytes: size - int64(st.FreePageN+st.PendingPageN)*page, MaxSize: l.opts.MaxSize, AlarmSize: l.opts.AlarmSize}
	if fi, err := os.Stat(l.path); err == nil {
		u.FileBytes = fi.Size()
	}
	u.Alarm = u.UsedBytes >= u.AlarmSize
	u.Full = u.UsedBytes >= l.limit(terminal.KindRedemption)
	l.mu.Lock()
	l.usage = u
	l.mu.Unlock()
	if u.Alarm && !l.alarmed.Swap(true) {
		l.log.Warn("offline ledger nearly full: sync and compact it (离线账本将满，请同步并整理)",
			"path", l.path, "used_bytes", u.UsedBytes, "alarm_size", u.AlarmSize, "max_size", u.MaxSize)
	} else if !u.Alarm && l.alarmed.Swap(false) {
		l.log.Info("offline ledger below its size alarm again", "path", l.path, "used_bytes", u.UsedBytes)
	}
}
