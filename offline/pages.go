package offline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt trusts the page structure of a file: a damaged branch page can send
// its cursors round a cycle (they grow without bound until the process runs
// out of memory) and a damaged freelist count makes it allocate gigabytes,
// neither of which a recover can catch. checkFile therefore walks the page
// structure with plain reads, before bbolt maps the file: every page of the
// B+trees (buckets, inline buckets, overflow) and the freelist is within the
// file, referenced once, of the right type, with its elements inside it.
// It reads the page headers and element tables only, not the values, so it
// costs about one small read per page.

// The bbolt file format (go.etcd.io/bbolt/internal/common), native byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize         = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	bucketHeaderSize = 16 // root u64, sequence u64
	branchPage       = 0x01
	leafPage         = 0x02
	freelistPage     = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	maxTreeDepth     = 64
)

var ne = binary.NativeEndian

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // pages below it are in use or free
	txid     uint64
}

// checkFile checks the page structure of the bbolt file at path. A missing
// or empty file passes: bbolt creates it.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil
	}
	c := &pageChecker{r: f, size: fi.Size(), seen: map[uint64]bool{}}
	if err := c.run(); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

type pageChecker struct {
	r    io.ReaderAt
	size int64
	meta boltMeta
	seen map[uint64]bool
}

func (c *pageChecker) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > c.size {
		return nil, fmt.Errorf("read of %d bytes at %d beyond the file's %d", n, off, c.size)
	}
	b := make([]byte, n)
	if _, err := c.r.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// readMeta returns the meta at off if it is valid.
func (c *pageChecker) readMeta(off int64) (boltMeta, bool) {
	b, err := c.read(off+pageHeaderSize, metaSize)
	if err != nil || ne.Uint32(b[0:]) != boltMagic || ne.Uint32(b[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]),
		hwm: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}, true
}

func (c *pageChecker) run() error {
	m0, ok0 := c.readMeta(0)
	ps := int64(os.Getpagesize())
	if ok0 {
		ps = int64(m0.pageSize)
	}
	m1, ok1 := c.readMeta(ps)
	switch {
	case ok0 && (!ok1 || m0.txid >= m1.txid):
		c.meta = m0
	case ok1:
		c.meta = m1
	default:
		return errors.New("no valid meta page")
	}
	m := &c.meta
	if m.pageSize < 1024 || m.pageSize > 1<<16 || m.pageSize&(m.pageSize-1) != 0 {
		return fmt.Errorf("page size %d", m.pageSize)
	}
	if m.hwm < 3 || m.hwm > uint64(c.size)/uint64(m.pageSize) {
		return fmt.Errorf("%d pages in use, the file holds %d", m.hwm, c.size/int64(m.pageSize))
	}
	c.seen[0], c.seen[1] = true, true
	if m.freelist != noFreelist {
		if err := c.checkFreelist(m.freelist); err != nil {
			return err
		}
	}
	return c.checkTree(m.root, 0)
}

// header reads the header of page id and marks it and its overflow pages seen.
func (c *pageChecker) header(id uint64) (flags, count uint16, size int64, err error) {
	if id < 2 || id >= c.meta.hwm {
		return 0, 0, 0, fmt.Errorf("page %d outside 2..%d", id, c.meta.hwm-1)
	}
	ps := int64(c.meta.pageSize)
	b, err := c.read(int64(id)*ps, pageHeaderSize)
	if err != nil {
		return 0, 0, 0, err
	}
	if got := ne.Uint64(b); got != id {
		return 0, 0, 0, fmt.Errorf("page %d says it is page %d", id, got)
	}
	flags, count = ne.Uint16(b[8:]), ne.Uint16(b[10:])
	overflow := uint64(ne.Uint32(b[12:]))
	if id+overflow >= c.meta.hwm {
		return 0, 0, 0, fmt.Errorf("page %d overflows past page %d", id, c.meta.hwm-1)
	}
	for p := id; p <= id+overflow; p++ {
		if c.seen[p] {
			return 0, 0, 0, fmt.Errorf("page %d referenced twice", p)
		}
		c.seen[p] = true
	}
	return flags, count, int64(overflow+1) * ps, nil
}

func (c *pageChecker) checkFreelist(id uint64) error {
	flags, count, size, err := c.header(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags != freelistPage {
		return fmt.Errorf("freelist page %d has flags %#x", id, flags)
	}
	off := int64(id) * int64(c.meta.pageSize)
	first, n := int64(0), uint64(count)
	if count == 0xFFFF {
		b, err := c.read(off+pageHeaderSize, 8)
		if err != nil {
			return err
		}
		first, n = 1, ne.Uint64(b)
	}
	if n > c.meta.hwm || pageHeaderSize+(first+int64(n))*8 > size {
		return fmt.Errorf("freelist page %d lists %d pages", id, n)
	}
	b, err := c.read(off+pageHeaderSize+first*8, int(n)*8)
	if err != nil {
		return err
	}
	for i := range int(n) {
		if p := ne.Uint64(b[i*8:]); p < 2 || p >= c.meta.hwm {
			return fmt.Errorf("freelist lists page %d outside 2..%d", p, c.meta.hwm-1)
		}
	}
	return nil
}

// checkTree checks the B+tree rooted at page id.
func (c *pageChecker) checkTree(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxTreeDepth)
	}
	flags, count, size, err := c.header(id)
	if err != nil {
		return err
	}
	off := int64(id) * int64(c.meta.pageSize)
	if pageHeaderSize+int64(count)*elementSize > size {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	elems, err := c.read(off+pageHeaderSize, int(count)*elementSize)
	if err != nil {
		return err
	}
	switch flags {
	case branchPage:
		if count == 0 {
			return fmt.Errorf("branch page %d is empty", id)
		}
		for i := range int(count) {
			e := elems[i*elementSize:]
			at := pageHeaderSize + int64(i)*elementSize
			if at+int64(ne.Uint32(e))+int64(ne.Uint32(e[4:])) > size {
				return fmt.Errorf("branch page %d: key %d outside the page", id, i)
			}
			if err := c.checkTree(ne.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	case leafPage:
		return c.checkLeaf(id, elems, size, depth, func(at int64, n int) ([]byte, error) { return c.read(off+at, n) })
	}
	return fmt.Errorf("page %d has flags %#x in a tree", id, flags)
}

// checkLeaf checks the elements of a leaf page of size bytes and descends
// into the buckets it holds; value reads a span of the page.
func (c *pageChecker) checkLeaf(id uint64, elems []byte, size int64, depth int, value func(at int64, n int) ([]byte, error)) error {
	for i := range len(elems) / elementSize {
		e := elems[i*elementSize:]
		at := pageHeaderSize + int64(i)*elementSize
		vAt := at + int64(ne.Uint32(e[4:])) + int64(ne.Uint32(e[8:]))
		vsize := int64(ne.Uint32(e[12:]))
		if vAt+vsize > size {
			return fmt.Errorf("leaf page %d: element %d outside the page", id, i)
		}
		if ne.Uint32(e)&bucketLeafFlag == 0 {
			continue
		}
		if vsize < bucketHeaderSize {
			return fmt.Errorf("leaf page %d: bucket %d header of %d bytes", id, i, vsize)
		}
		v, err := value(vAt, int(vsize))
		if err != nil {
			return err
		}
		if root := ne.Uint64(v); root != 0 {
			if err := c.checkTree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := c.checkInline(id, v[bucketHeaderSize:], depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkInline checks an inline bucket's page p, stored in a value of page id.
func (c *pageChecker) checkInline(id uint64, p []byte, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: buckets nested deeper than %d", id, maxTreeDepth)
	}
	if len(p) < pageHeaderSize || ne.Uint16(p[8:]) != leafPage {
		return fmt.Errorf("page %d: inline bucket is not a leaf", id)
	}
	n := int64(ne.Uint16(p[10:]))
	size := int64(len(p))
	if pageHeaderSize+n*elementSize > size {
		return fmt.Errorf("page %d: inline bucket's %d elements do not fit", id, n)
	}
	elems := p[pageHeaderSize : pageHeaderSize+n*elementSize]
	return c.checkLeaf(id, elems, size, depth, func(at int64, n int) ([]byte, error) { return p[at : at+int64(n)], nil })
}
