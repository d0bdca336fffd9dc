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
	// DiskFreeBytes is the free space of the file system holding the file
	// (-1 if it cannot be measured).
	DiskFreeBytes int64 `json:"disk_free_bytes"`
	// DiskLow is true below Options.DiskWarn: free some space.
	DiskLow bool `json:"disk_low"`
	// DiskFull is true below Options.DiskReserve: redemptions are refused
	// with ErrDiskFull, offline ones declined, so that the acknowledgement
	// that frees the outbox can still be written.
	DiskFull bool `json:"disk_full"`
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

// refreshUsage measures the file after a write, and raises or clears the
// alarm; the background tick (and Open) also measure the file's size on
// disk and the free disk space (refreshDisk), which change more slowly.
func (l *Ledger) refreshUsage() {
	db := l.db.Load()
	var size int64
	if err := db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		return
	}
	st := db.Stats()
	page := int64(db.Info().PageSize)
	used := size - int64(st.FreePageN+st.PendingPageN)*page
	l.mu.Lock()
	grew := size != l.size
	l.size = size
	u := l.usage
	u.UsedBytes, u.MaxSize, u.AlarmSize = used, l.opts.MaxSize, l.opts.AlarmSize
	u.Alarm = u.UsedBytes >= u.AlarmSize
	u.Full = u.UsedBytes >= l.limit(terminal.KindRedemption)
	l.usage = u
	l.mu.Unlock()
	if grew { // the file took more of the disk: measure it now, not at the next tick
		l.refreshDisk()
	}
	if u.Alarm && !l.alarmed.Swap(true) {
		l.log.Warn("offline ledger nearly full: sync and compact it (离线账本将满，请同步并整理)",
			"path", l.path, "used_bytes", u.UsedBytes, "alarm_size", u.AlarmSize, "max_size", u.MaxSize)
	} else if !u.Alarm && l.alarmed.Swap(false) {
		l.log.Info("offline ledger below its size alarm again", "path", l.path, "used_bytes", u.UsedBytes)
	}
}

// refreshDisk measures the file's size on disk and the free disk space,
// and logs crossing DiskWarn.
func (l *Ledger) refreshDisk() {
	var fileBytes int64
	if fi, err := os.Stat(l.path); err == nil {
		fileBytes = fi.Size()
	}
	free, err := int64(-1), error(nil)
	if l.opts.DiskReserve >= 0 {
		if free, err = l.opts.diskFree(l.path); err != nil {
			free = -1
		}
	}
	l.mu.Lock()
	u := &l.usage
	u.FileBytes, u.DiskFreeBytes = fileBytes, free
	u.DiskLow = free >= 0 && free < l.opts.DiskWarn
	u.DiskFull = free >= 0 && free < l.opts.DiskReserve
	low := u.DiskLow
	l.mu.Unlock()
	if low && !l.diskLow.Swap(true) {
		l.log.Warn("disk nearly full: free space for the offline ledger (磁盘空间不足，请清理)",
			"path", l.path, "free_bytes", free, "warn_bytes", l.opts.DiskWarn, "reserve_bytes", l.opts.DiskReserve)
	} else if !low && l.diskLow.Swap(false) {
		l.log.Info("disk space above the warning again", "path", l.path, "free_bytes", free)
	}
}
