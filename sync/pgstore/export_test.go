package pgstore

import (
	"context"

	"github.com/voucherpos/voucherpos/sync/hub"
)

// MigrateTo is migrateTo, for the tests of a migration.
var MigrateTo = migrateTo

// HeldCommit is a pending commit (hub.Pending) that leaves the chain heads
// and memos given once it commits, and ends with the result passed to the
// function returned: a group before one CommitAfter decides. A nil memo
// is one the group deletes.
func HeldCommit(heads map[string]hub.Head, memos map[string][]byte) (hub.Pending, func(error)) {
	t := newTx(context.Background(), nil, nil)
	for id, h := range heads {
		t.heads[id] = &headEntry{h: h, dirty: true}
	}
	for k, v := range memos {
		t.memos[k] = &memo{value: v, dirty: true}
	}
	p := &pending{t: t, done: make(chan struct{})}
	return p, func(err error) {
		p.err = err
		close(p.done)
	}
}
