package terminal

import "time"

// Reasons of an offline_limit decline (Error.Reason): stable names for the
// screens, the status JSON and the log, each with its own message, so the
// cashier knows whether to fix the clock, reconnect or call for help.
const (
	ReasonNeverSynced = "never_synced"
	ReasonClockBehind = "clock_behind" // the clock is before a time this terminal already saw
	ReasonClockDrift  = "clock_drift"  // the clock differed from the server's at the last sync
	ReasonSyncAge     = "sync_age"     // too long since the server's time at the last sync: offline too long, or the clock set forward
	ReasonOfflineCap  = "offline_cap"  // one redemption's discount over the offline cap
	ReasonExposure    = "exposure"     // the unsynced discount would pass the offline limit
	ReasonLedgerFault = "ledger_fault" // the ledger's audit found damage, or its file cannot be read
	ReasonDiskFull    = "disk_full"    // too little disk left to record offline redemptions safely
	ReasonUndecided   = "undecided"    // the offline state could not be read
)

// offlineMessages are the cashier's messages of each reason: Chinese, English.
var offlineMessages = map[string][2]string{
	ReasonNeverSynced: {"终端从未与服务器同步，不能离线核销，请联网", "never synced with the server; offline redemption needs a first sync"},
	ReasonClockBehind: {"终端时钟被调慢（早于已记录的时间），不能离线核销，请校准时钟并联网", "the clock is behind a time this terminal already recorded; fix the clock and reconnect"},
	ReasonClockDrift:  {"终端时钟与服务器相差过大，不能离线核销，请校准时钟", "the clock differed too much from the server's at the last sync; fix the clock"},
	ReasonSyncAge:     {"离线时间过长（或时钟被调快），请联网同步后再核销", "offline for too long (or the clock was set forward); reconnect and retry"},
	ReasonOfflineCap:  {"本单优惠超过离线单笔上限，请联网后核销", "this discount is over the offline cap for one sale; reconnect and retry"},
	ReasonExposure:    {"离线核销额度已满，请联网后再试", "offline redemption limit reached; reconnect and retry"},
	ReasonLedgerFault: {"离线账本校验异常，已停止离线核销，请联系维护人员", "the offline ledger failed its audit; offline redemption is stopped, call support"},
	ReasonDiskFull:    {"磁盘空间不足，已停止离线核销，请清理空间", "the disk is nearly full; offline redemption is stopped, free some space"},
	ReasonUndecided:   {"无法读取离线额度，不能离线核销", "the offline limits cannot be read; offline redemption refused"},
}

// OfflineLimitf returns an offline_limit decline for reason with its own
// message and a detail for the log.
func OfflineLimitf(reason, format string, args ...any) *Error {
	e := Errorf(OfflineLimit, format, args...)
	e.Reason = reason
	if m, ok := offlineMessages[reason]; ok {
		e.Message, e.MessageEN = m[0], m[1]
	}
	return e
}

// CheckOffline applies the offline risk limits to a redemption of discount
// made without the server's online authorisation. It declines offline_limit,
// with a reason, when the ledger holds offline redemptions (s.Hold), when
// the terminal's clock is behind a time it already saw, differed from the
// server's, or runs ahead of the server's time at the last sync by more
// than the pushed OfflineMaxAge (offline too long, or the clock set
// forward), or when a cap would be passed.
func (p Params) CheckOffline(s *SyncState, discount Fen, now time.Time) *Error {
	p = p.WithDefaults()
	switch {
	case s.Hold != "":
		return OfflineLimitf(s.Hold, "the ledger holds offline redemptions: %s", s.Hold)
	case s.LastSync.IsZero():
		return OfflineLimitf(ReasonNeverSynced, "never synced")
	case now.Before(s.HighWater) || now.Before(s.LastSync):
		return OfflineLimitf(ReasonClockBehind, "clock ran backwards: now %s, seen %s", now.Format(time.RFC3339), later(s.HighWater, s.LastSync).Format(time.RFC3339))
	case s.ServerOffset > p.MaxClockDrift || -s.ServerOffset > p.MaxClockDrift:
		return OfflineLimitf(ReasonClockDrift, "clock differs from the server's by %s", s.ServerOffset)
	case now.Sub(s.LastSync.Add(s.ServerOffset)) > p.OfflineMaxAge:
		return OfflineLimitf(ReasonSyncAge, "now %s is %s after the server's time at the last sync, limit %s",
			now.Format(time.RFC3339), now.Sub(s.LastSync.Add(s.ServerOffset)).Round(time.Minute), p.OfflineMaxAge)
	case discount > p.OfflineMaxDiscountFen:
		return OfflineLimitf(ReasonOfflineCap, "discount %s over the offline cap %s", discount, p.OfflineMaxDiscountFen)
	case s.UnsyncedFen+discount > p.OfflineLimitFen:
		return OfflineLimitf(ReasonExposure, "unsynced %s + %s over the offline limit %s", s.UnsyncedFen, discount, p.OfflineLimitFen)
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Offline returns the reason of an offline_limit decline err, or "".
func (e *Error) Offline() string {
	if e == nil || e.Code != OfflineLimit {
		return ""
	}
	return e.Reason
}
