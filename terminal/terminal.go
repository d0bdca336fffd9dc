// Package terminal is the domain of the voucher terminal: money in fen, the
// signed voucher code, the programme's categories and denominations, the
// redemption rules, the checkout and its records, and the small interfaces the
// outer packages (offline/, sync/, drivers/) implement. It imports only the
// standard library.
package terminal
