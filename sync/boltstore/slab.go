package boltstore

// slab hands out the bytes of a write transaction's keys and values from
// a few large chunks, used again by the next transaction: bbolt keeps a
// Put's key and value, not a copy, until the transaction ends, and a
// drain writes about a kilobyte a record, which allocated one by one was
// a tenth of a commit's time in the allocator and the collector. The
// Store's slab is used under logMu, by one transaction at a time, and
// reset only when bbolt is done with its bytes (Commit).
type slab struct {
	chunks [][]byte // chunks[:used] have bytes handed out
	used   int
	free   []byte // the rest of chunks[used-1]
}

const (
	slabChunk = 1 << 20
	// slabKeep is how many chunks a reset keeps: a larger transaction
	// than usual does not hold its memory for good.
	slabKeep = 16
)

// take returns an empty slice with room for n bytes, its capacity capped
// at n: an append past it moves, never into the next slice's bytes.
func (s *slab) take(n int) []byte {
	if n > slabChunk/4 {
		return make([]byte, 0, n)
	}
	if len(s.free) < n {
		if s.used == len(s.chunks) {
			s.chunks = append(s.chunks, make([]byte, slabChunk))
		}
		s.free = s.chunks[s.used]
		s.used++
	}
	b := s.free[:0:n]
	s.free = s.free[n:]
	return b
}

// reset makes every chunk free again: nothing may use what take returned.
func (s *slab) reset() {
	if len(s.chunks) > slabKeep {
		clear(s.chunks[slabKeep:])
		s.chunks = s.chunks[:slabKeep]
	}
	s.used, s.free = 0, nil
}
