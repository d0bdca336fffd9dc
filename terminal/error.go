package terminal

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, machine-readable decline code from CONTRACT.md.
type Code string

// The decline codes. They are part of the external interface and never change.
const (
	Malformed                Code = "malformed"
	BadSignature             Code = "bad_signature"
	UnknownKey               Code = "unknown_key"
	NotYetValid              Code = "not_yet_valid"
	Expired                  Code = "expired"
	Revoked                  Code = "revoked"
	AlreadyRedeemed          Code = "already_redeemed"
	BelowThreshold           Code = "below_threshold"
	CategoryMismatch         Code = "category_mismatch"
	RegionMismatch           Code = "region_mismatch"
	OneVoucherPerTransaction Code = "one_voucher_per_transaction"
	SplitBill                Code = "split_bill"
	EmptyTransaction         Code = "empty_transaction"
	NoOpenCheckout           Code = "no_open_checkout"
	MerchantBlocked          Code = "merchant_blocked"
	OfflineLimit             Code = "offline_limit"
)

// Codes lists every decline code, in the order of CONTRACT.md.
var Codes = []Code{
	Malformed, BadSignature, UnknownKey, NotYetValid, Expired, Revoked,
	AlreadyRedeemed, BelowThreshold, CategoryMismatch, RegionMismatch,
	OneVoucherPerTransaction, SplitBill, EmptyTransaction, NoOpenCheckout,
	MerchantBlocked, OfflineLimit,
}

// messages holds the cashier-facing text of each code: Chinese first, then English.
var messages = map[Code][2]string{
	Malformed:                {"券码无法识别，请让顾客刷新后重扫", "voucher code not recognised; ask the customer to refresh and rescan"},
	BadSignature:             {"券码校验失败，疑似伪造，不能使用", "voucher signature invalid; the code may be forged"},
	UnknownKey:               {"券码的签发密钥未知，请联网同步后再试", "voucher signed by an unknown issuer key; sync and retry"},
	NotYetValid:              {"此券尚未生效", "voucher is not valid yet"},
	Expired:                  {"此券已过期", "voucher has expired"},
	Revoked:                  {"此券已作废", "voucher has been revoked"},
	AlreadyRedeemed:          {"此券已核销，不能重复使用", "voucher already redeemed"},
	BelowThreshold:           {"未达到满减门槛", "basket is below the voucher's minimum spend"},
	CategoryMismatch:         {"本店不能使用此类券", "this store does not accept this voucher category"},
	RegionMismatch:           {"此券不能在本地区使用", "voucher is not valid in this region"},
	OneVoucherPerTransaction: {"每笔交易限用一张券", "one voucher per transaction"},
	SplitBill:                {"同一顾客短时间内再次用券，疑似拆单，不能使用", "same customer again within the split-bill window; split bills are not allowed"},
	EmptyTransaction:         {"交易无有效商品，不能用券", "no eligible sale in this transaction"},
	NoOpenCheckout:           {"请先开单再扫券", "open a checkout before scanning a voucher"},
	MerchantBlocked:          {"本商户已暂停核销资格", "this merchant is suspended from redeeming vouchers"},
	OfflineLimit:             {"离线核销额度已满，请联网后再试", "offline redemption limit reached; reconnect and retry"},

	// Review codes (review.go): the server's reasons, never a till's.
	FutureDated:    {"记录时间晚于服务器收到的时间，终端时钟或记录不可信", "record is dated after the server received it; the terminal's clock or record cannot be trusted"},
	Backdated:      {"记录时间早于该终端之前的记录或同步，疑似倒填日期", "record is dated before the terminal's earlier record or sync; it looks backdated"},
	AmountMismatch: {"记录金额与商品明细重算结果不符", "record's amounts differ from those its item lines give"},
	RefundMismatch: {"退款与原交易不符", "refund does not match its sale"},
	Fork:           {"终端账本与服务器记录不连续（账本被清空或恢复），已暂停离线核销", "terminal ledger does not continue the server's record of it (wiped or restored); offline redemptions stopped"},
}

// Error is the domain error: a stable code, the cashier's message in Chinese
// and English, and a detail for the log. Read it with errors.As or ErrorCode.
type Error struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
	// Reason tells apart the causes of one code that the cashier must act on
	// differently (offline_limit: never synced, the clock, the age of the last
	// sync, the allowance); empty means the code says it all.
	Reason Reason `json:"reason,omitempty"`
	// Detail is for the log and the auditor, not the cashier ("spend 19999 < 20000").
	Detail string `json:"detail,omitempty"`
}

// Reason refines a decline code (Error.Reason). Reasons are stable and
// machine-readable like codes; each has its own cashier message.
type Reason string

// The decline reasons and the code each goes with.
const (
	// ReasonNeverSynced (offline_limit): the terminal has never had the
	// server's state (merchant profile, keys, limits), so it cannot decide.
	ReasonNeverSynced Reason = "never_synced"
	// ReasonClock (offline_limit): the terminal's clock ran backwards or
	// differs from the server's by more than the allowed drift.
	ReasonClock Reason = "clock"
	// ReasonAge (offline_limit): the last sync is older than the offline age limit.
	ReasonAge Reason = "age"
	// ReasonAllowance (offline_limit): the unsynced discount would pass the
	// terminal's offline allowance.
	ReasonAllowance Reason = "allowance"
	// ReasonOfflineCap (offline_limit): one offline redemption's discount is
	// over the cap for a single offline redemption.
	ReasonOfflineCap Reason = "offline_cap"
	// ReasonFork (offline_limit): the server holds this terminal's ledger as
	// a fork (wiped or restored); it redeems nothing until an administrator
	// resets it.
	ReasonFork Reason = "fork"
	// ReasonHeldElsewhere (already_redeemed): another till's online claim
	// holds the voucher for now; it may be usable when the hold ends.
	ReasonHeldElsewhere Reason = "held_elsewhere"
	// ReasonLedgerFault (offline_limit): the terminal's ledger failed its
	// audit (a damaged or altered record) or cannot be read after a failed
	// write; offline redemptions stop until it is resolved (SyncState.Hold).
	ReasonLedgerFault Reason = "ledger_fault"
	// ReasonDiskFull (offline_limit): the disk is too full to record
	// offline redemptions and still sync them (SyncState.Hold).
	ReasonDiskFull Reason = "disk_full"
)

// reasonMessages holds the cashier-facing text of each reason, Chinese then
// English; it replaces the code's own message.
var reasonMessages = map[Reason][2]string{
	ReasonNeverSynced: {"本机尚未与服务器同步过，暂不能用券；请联网后点“立即同步”",
		"this terminal has never synced with the server, so it cannot take vouchers yet; connect and press Sync now"},
	ReasonClock: {"本机时钟不准（与服务器不符或被调回），离线不能用券；请校准时间或联网",
		"this terminal's clock is wrong (differs from the server's or was set back); offline vouchers are refused until it is fixed or online"},
	ReasonAge: {"离线时间过长，须联网同步后才能继续用券",
		"offline too long since the last sync; sync before taking more vouchers"},
	ReasonAllowance: {"离线核销额度已用完，请联网同步后再试",
		"the offline allowance is used up; sync and retry"},
	ReasonOfflineCap: {"单笔优惠超过离线上限，须联网核验",
		"this discount is over the cap for one offline redemption; it needs the server online"},
	ReasonFork: {"本机账本与服务器记录不一致（被清空或恢复），已停止用券；请联系管理员核查并重置终端",
		"this terminal's ledger does not match the server's record of it (wiped or restored); vouchers are stopped until an administrator investigates and resets the terminal"},
	ReasonHeldElsewhere: {"此券正在其他收银台使用中，暂时不能用",
		"this voucher is being used at another till right now"},
	ReasonLedgerFault: {"离线账本校验异常，已停止离线用券；请联系维护人员",
		"the offline ledger failed its audit; offline vouchers are stopped, call support"},
	ReasonDiskFull: {"磁盘空间不足，已停止离线用券；请清理空间",
		"the disk is nearly full; offline vouchers are stopped, free some space"},
}

// Declinef returns an *Error with code, the message of reason (the code's
// own message if reason has none) and a detail.
func Declinef(code Code, reason Reason, format string, args ...any) *Error {
	e := Errorf(code, format, args...)
	e.Reason = reason
	if m, ok := reasonMessages[reason]; ok {
		e.Message, e.MessageEN = m[0], m[1]
	}
	return e
}

// HeldElsewhere declines a voucher another till's online claim holds until
// until (already_redeemed, ReasonHeldElsewhere): the cashier reads until
// when, in the county's time, and that it may be usable after.
func HeldElsewhere(until time.Time, format string, args ...any) *Error {
	e := Declinef(AlreadyRedeemed, ReasonHeldElsewhere, format, args...)
	if !until.IsZero() {
		at := until.In(Zone).Format("15:04")
		e.Message = fmt.Sprintf("此券正在其他收银台使用中，锁定至 %s；该笔交易未完成的话，届时可再用", at)
		e.MessageEN = fmt.Sprintf("this voucher is being used at another till, held until %s; usable then if that sale is not completed", at)
	}
	return e
}

// Reasons lists every decline reason.
var Reasons = []Reason{ReasonNeverSynced, ReasonClock, ReasonAge, ReasonAllowance, ReasonOfflineCap, ReasonHeldElsewhere,
	ReasonLedgerFault, ReasonDiskFull, ReasonFork}

// Error returns the code, the English message and the detail.
func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.MessageEN, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.MessageEN)
}

// Errorf returns an *Error with the standard messages for code (a decline
// code, or a claim refusal code of claim.go) and a detail.
func Errorf(code Code, format string, args ...any) *Error {
	m, ok := messages[code]
	if !ok {
		m, ok = claimMessages[code]
	}
	if !ok {
		m = [2]string{string(code), string(code)}
	}
	e := &Error{Code: code, Message: m[0], MessageEN: m[1]}
	if format != "" {
		e.Detail = fmt.Sprintf(format, args...)
	}
	return e
}

// ErrorCode returns the decline code of err, or "" if err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Known reports whether c is one of the decline codes of CONTRACT.md or a
// review code (ReviewCodes).
func (c Code) Known() bool {
	_, ok := messages[c]
	return ok
}
