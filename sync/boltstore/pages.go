package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
)

// walkFile checks the page structure of a bbolt file before bbolt maps
// it. bbolt trusts its pages: a page id that does not match, a bad page
// type or an element pointing outside its page panics, sometimes in a
// goroutine of its own (the freelist rebuilt at open, Tx.Check) where no
// recover can reach, or reads outside the mapping. walkFile reads the file
// as bbolt would (the newer valid meta page, then every page reachable
// from its root bucket) and reports the first structural fault as
// ErrDamaged, so that bbolt only ever opens a file it can walk.
//
// Layout (bbolt 1.x, little-endian): page header id u64, flags u16, count
// u16, overflow u32; meta at 16: magic, version, pageSize, flags u32, root
// bucket {root, sequence u64}, freelist, pgid, txid, checksum u64 (FNV-64a
// of the meta before it); branch element pos u32, ksize u32, pgid u64;
// leaf element flags u32, pos u32, ksize u32, vsize u32 (pos from the
// element); a bucket value is {root, sequence u64}, with root 0 an inline
// page following it.
func walkFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil // a new file: bbolt initialises it
	}
	w := &walker{b: b, seen: map[uint64]bool{}}
	return w.walk()
}

const (
	pageHeader     = 16
	elemSize       = 16
	flagBranch     = 0x01
	flagLeaf       = 0x02
	flagMeta       = 0x04
	flagFreelist   = 0x10
	leafBucket     = 0x01
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	maxDepth       = 64
	minPageSize    = 512
	maxPageSizeLog = 16
)

type walker struct {
	b        []byte
	pageSize int
	hwm      uint64 // pages in use: ids below it
	seen     map[uint64]bool
}

func damaged(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, args...))
}

type meta struct {
	pageSize             int
	root, freelist, pgid uint64
	txid                 uint64
	ok                   bool
}

// readMeta reads the meta page at offset off, checking magic, version and checksum.
func (w *walker) readMeta(off int) meta {
	var m meta
	if off+80 > len(w.b) {
		return m
	}
	p := w.b[off:]
	le := binary.LittleEndian
	if le.Uint16(p[8:]) != flagMeta || le.Uint32(p[16:]) != boltMagic || le.Uint32(p[20:]) != boltVersion {
		return m
	}
	h := fnv.New64a()
	h.Write(p[16:72])
	if h.Sum64() != le.Uint64(p[72:]) {
		return m
	}
	m.pageSize = int(le.Uint32(p[24:]))
	m.root, m.freelist, m.pgid, m.txid = le.Uint64(p[32:]), le.Uint64(p[48:]), le.Uint64(p[56:]), le.Uint64(p[64:])
	m.ok = m.pageSize >= minPageSize && m.pageSize <= 1<<maxPageSizeLog && m.pageSize&(m.pageSize-1) == 0
	return m
}

func (w *walker) walk() error {
	m0 := w.readMeta(0)
	ps := m0.pageSize
	if !m0.ok {
		ps = os.Getpagesize()
	}
	m1 := w.readMeta(ps)
	// bbolt uses the meta with the higher transaction id if it is valid.
	m := m0
	if m1.ok && (!m0.ok || m1.txid > m0.txid) {
		m = m1
	}
	if !m.ok {
		return damaged("no valid meta page")
	}
	w.pageSize, w.hwm = m.pageSize, m.pgid
	if uint64(len(w.b)) < m.pgid*uint64(m.pageSize) {
		return damaged("file of %d bytes, its meta page says %d pages of %d", len(w.b), m.pgid, m.pageSize)
	}
	if m.root < 2 || m.root >= m.pgid {
		return damaged("root bucket at page %d outside 2..%d", m.root, m.pgid)
	}
	if m.freelist != noFreelist {
		if _, err := w.page(m.freelist, flagFreelist); err != nil {
			return err
		}
	}
	_, err := w.tree(m.root, nil, nil, 0)
	return err
}

// page returns the bytes of page id (with its overflow), checking its
// header says id and one of the flags wanted.
func (w *walker) page(id uint64, flags uint16) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, damaged("page %d outside 2..%d", id, w.hwm)
	}
	off := id * uint64(w.pageSize)
	p := w.b[off:]
	le := binary.LittleEndian
	if got := le.Uint64(p); got != id {
		return nil, damaged("page %d says it is page %d", id, got)
	}
	if f := le.Uint16(p[8:]); f&flags == 0 || f&^(flagBranch|flagLeaf|flagMeta|flagFreelist) != 0 {
		return nil, damaged("page %d has flags %#x", id, f)
	}
	n := (uint64(le.Uint32(p[12:])) + 1) * uint64(w.pageSize)
	if id+n/uint64(w.pageSize) > w.hwm {
		return nil, damaged("page %d overflows past page %d", id, w.hwm)
	}
	return p[:n], nil
}

// tree walks the B+tree rooted at page id, whose keys must lie in
// [min, max) (nil: unbounded), and returns its largest key. It checks
// what bbolt's own check at open would panic on: each page reached once
// (its overflow pages too), branch or leaf, keys ascending and within
// their parent's range.
func (w *walker) tree(id uint64, min, max []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, damaged("tree deeper than %d at page %d", maxDepth, id)
	}
	p, err := w.page(id, flagBranch|flagLeaf)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < uint64(len(p)/w.pageSize); i++ {
		if w.seen[id+i] {
			return nil, damaged("page %d reached twice", id+i)
		}
		w.seen[id+i] = true
	}
	return w.node(p, id, min, max, depth)
}

// node checks the elements of a branch or leaf page p and walks on.
func (w *walker) node(p []byte, id uint64, min, max []byte, depth int) ([]byte, error) {
	le := binary.LittleEndian
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if pageHeader+count*elemSize > len(p) {
		return nil, damaged("page %d: %d elements do not fit", id, count)
	}
	running, last := min, []byte(nil)
	order := func(i int, key []byte) error {
		if running != nil && bytes.Compare(running, key) > 0 || i > 0 && bytes.Equal(running, key) {
			return damaged("page %d: key %d out of order", id, i)
		}
		if max != nil && bytes.Compare(key, max) >= 0 {
			return damaged("page %d: key %d beyond its parent's range", id, i)
		}
		return nil
	}
	for i := range count {
		e := pageHeader + i*elemSize
		el := p[e : e+elemSize]
		if flags&flagBranch != 0 {
			pos, ks, child := uint64(le.Uint32(el)), uint64(le.Uint32(el[4:])), le.Uint64(el[8:])
			if uint64(e)+pos+ks > uint64(len(p)) {
				return nil, damaged("page %d: key %d outside the page", id, i)
			}
			key := p[uint64(e)+pos : uint64(e)+pos+ks]
			if err := order(i, key); err != nil {
				return nil, err
			}
			next := max
			if i < count-1 {
				ne := pageHeader + (i+1)*elemSize
				npos, nks := uint64(le.Uint32(p[ne:])), uint64(le.Uint32(p[ne+4:]))
				if uint64(ne)+npos+nks > uint64(len(p)) {
					return nil, damaged("page %d: key %d outside the page", id, i+1)
				}
				next = p[uint64(ne)+npos : uint64(ne)+npos+nks]
			}
			sub, err := w.tree(child, key, next, depth+1)
			if err != nil {
				return nil, err
			}
			running, last = sub, sub
			continue
		}
		ef, pos, ks, vs := le.Uint32(el), uint64(le.Uint32(el[4:])), uint64(le.Uint32(el[8:])), uint64(le.Uint32(el[12:]))
		end := uint64(e) + pos + ks + vs
		if end > uint64(len(p)) {
			return nil, damaged("page %d: element %d outside the page", id, i)
		}
		key := p[uint64(e)+pos : uint64(e)+pos+ks]
		if min != nil || max != nil || i > 0 {
			if err := order(i, key); err != nil {
				return nil, err
			}
		}
		running, last = key, key
		if ef&leafBucket == 0 {
			continue
		}
		v := p[uint64(e)+pos+ks : end]
		if len(v) < 16 {
			return nil, damaged("page %d: bucket value of %d bytes", id, len(v))
		}
		if root := le.Uint64(v); root != 0 {
			if _, err := w.tree(root, nil, nil, depth+1); err != nil {
				return nil, err
			}
			continue
		}
		inline := v[16:]
		if len(inline) < pageHeader || le.Uint16(inline[8:])&flagLeaf == 0 {
			return nil, damaged("page %d: inline bucket %d is not a leaf", id, i)
		}
		if _, err := w.node(inline, id, nil, nil, depth+1); err != nil {
			return nil, err
		}
	}
	return last, nil
}
