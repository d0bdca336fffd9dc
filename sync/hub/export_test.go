package hub

import "github.com/voucherpos/voucherpos/terminal"

// GroupMemos gives the external tests a group transaction's memo cache
// over a real store's transaction.
type GroupMemos struct{ g *groupTx }

func NewGroupMemos(tx Tx) GroupMemos { return GroupMemos{newGroupTx(tx, nil)} }

// Recents reads a holder memo through the cache.
func (m GroupMemos) Recents(key string) (*[]terminal.Recent, error) {
	rs, err := memo[recents](m.g, key)
	return (*[]terminal.Recent)(rs), err
}

func (m GroupMemos) Changed(key string)                    { m.g.changed(key) }
func (m GroupMemos) Flush() error                          { return m.g.flush() }
func (m GroupMemos) Memo(key string) ([]byte, bool, error) { return m.g.Memo(key) }
func (m GroupMemos) PutMemo(key string, v []byte) error    { return m.g.PutMemo(key, v) }
func EncodeRecents(rs []terminal.Recent) ([]byte, error)   { r := recents(rs); return encodeMemo(&r) }
func DecodeRecents(b []byte, rs *[]terminal.Recent) error  { return decodeMemo(b, (*recents)(rs)) }

// SetSweepChunk makes a sweep of the holder memos read n at a time, until
// the test ends.
func SetSweepChunk(t interface{ Cleanup(func()) }, n int) {
	old := sweepChunk
	sweepChunk = n
	t.Cleanup(func() { sweepChunk = old })
}
