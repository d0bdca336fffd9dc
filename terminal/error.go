package terminal

import (
	"errors"
	"fmt"
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
}

// Error is the domain error: a stable code, the cashier's message in Chinese
// and English, and a detail for the log. Read it with errors.As or ErrorCode.
type Error struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
	// Detail is for the log and the auditor, not the cashier ("spend 19999 < 20000").
	Detail string `json:"detail,omitempty"`
	// Reason refines an offline_limit decline (ReasonClockBehind, ...), each
	// with its own message; empty for other codes.
	Reason string `json:"reason,omitempty"`
}

// Error returns the code, the English message and the detail.
func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.MessageEN, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.MessageEN)
}

// Errorf returns an *Error with the standard messages for code and a detail.
func Errorf(code Code, format string, args ...any) *Error {
	m, ok := messages[code]
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

// Known reports whether c is one of the decline codes of CONTRACT.md.
func (c Code) Known() bool {
	_, ok := messages[c]
	return ok
}
