package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The layout of a bbolt file, version 2, in the machine's byte order. bbolt
// reads its pages straight from a memory map and trusts every offset in
// them: a wrong one makes it panic or read outside the map, which kills the
// process. verifyFile reads the same structures with bounds checks, so Open
// hands bbolt only a file whose every reachable page is in place.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	metaEnd          = pageHeaderSize + 64
	metaSumEnd       = pageHeaderSize + 56 // the checksum covers the meta up to itself

	pageBranch   = 0x01
	pageLeaf     = 0x02
	pageFreelist = 0x10
	leafIsBucket = 0x01

	boltMagic   = 0xED0CDAED
	boltVersion = 2
	noFreelist  = ^uint64(0)

	minPageSize = 1 << 10
	maxPageSize = 1 << 24

	// maxProblems bounds the report on a badly damaged file.
	maxProblems = 20
	// maxInlineDepth bounds buckets nested inside bucket values.
	maxInlineDepth = 64
)

var order = binary.NativeEndian

// meta is a bbolt meta page.
type meta struct {
	pageSize, root, freelist, hwm, txid uint64
}

// parseMeta reads the meta page at the start of b and checks its magic,
// version and checksum.
func parseMeta(b []byte) (meta, error) {
	if len(b) < metaEnd {
		return meta{}, fmt.Errorf("cut short")
	}
	m := b[pageHeaderSize:]
	switch {
	case order.Uint32(m[0:]) != boltMagic:
		return meta{}, fmt.Errorf("no bbolt marker")
	case order.Uint32(m[4:]) != boltVersion:
		return meta{}, fmt.Errorf("format version %d, expected %d", order.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[pageHeaderSize:metaSumEnd])
	if h.Sum64() != order.Uint64(m[56:]) {
		return meta{}, fmt.Errorf("checksum mismatch")
	}
	return meta{
		pageSize: uint64(order.Uint32(m[8:])),
		root:     order.Uint64(m[16:]),
		freelist: order.Uint64(m[32:]),
		hwm:      order.Uint64(m[40:]),
		txid:     order.Uint64(m[48:]),
	}, nil
}

// fileCheck is what verifyFile found.
type fileCheck struct {
	empty     bool
	problems  []string
	pageSize  uint64
	pages     uint64 // the high-water mark: pages in use or free
	freePages uint64
}

func (c *fileCheck) addf(format string, args ...any) {
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *fileCheck) full() bool { return len(c.problems) >= maxProblems }

// verifyFile checks the file's meta pages against its size, its freelist,
// and walks every bucket's pages: each must lie below the high-water mark,
// name itself, have a known type, hold its elements, keys and values within
// its bounds, keep its keys in order, and be referenced once and never also
// be free. It reads f with ReadAt and never writes. The caller holds the
// file lock.
func verifyFile(f *os.File) fileCheck {
	var c fileCheck
	fi, err := f.Stat()
	if err != nil {
		c.addf("cannot read the file: %v", err)
		return c
	}
	size := uint64(fi.Size())
	if size == 0 {
		c.empty = true
		c.addf("the file is empty (0 bytes)")
		return c
	}
	m, ps, ok := readMeta(&c, f, size)
	if !ok {
		return c
	}
	c.pageSize = ps
	switch {
	case m.hwm < 3:
		c.addf("the meta page says the file has %d pages, too few for a database", m.hwm)
		return c
	case m.hwm > size/ps:
		c.addf("the file is %d bytes long, but its meta page says %d pages of %d bytes: the file was cut short",
			size, m.hwm, ps)
		return c
	}
	c.pages = m.hwm
	data := make([]byte, m.hwm*ps)
	if _, err := f.ReadAt(data, 0); err != nil {
		c.addf("cannot read the file: %v", err)
		return c
	}
	w := walker{c: &c, data: data, ps: ps, hwm: m.hwm,
		used: make([]bool, m.hwm), free: make([]bool, m.hwm)}
	w.used[0], w.used[1] = true, true
	switch {
	case m.root < 2 || m.root >= m.hwm:
		c.addf("the root bucket is at page %d, outside the file's %d pages", m.root, m.hwm)
		return c
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		c.addf("the freelist is at page %d, outside the file's %d pages", m.freelist, m.hwm)
		return c
	}
	if m.freelist != noFreelist {
		w.readFreelist(m.freelist)
	}
	w.tree(m.root, nil, nil, 0)
	if m.freelist != noFreelist && !c.full() {
		var lost, first uint64
		for id := m.hwm - 1; id >= 2; id-- {
			if !w.used[id] && !w.free[id] {
				lost, first = lost+1, id
			}
		}
		if lost > 0 {
			c.addf("%d pages are neither in use nor free, the first is page %d", lost, first)
		}
	}
	return c
}

// readMeta finds the page size as bbolt does (from meta page 0, else from
// the first valid meta page at a power of two from 1 KiB) and returns the
// meta page bbolt will use: the valid one with the higher transaction id.
func readMeta(c *fileCheck, f io.ReaderAt, size uint64) (meta, uint64, bool) {
	read := func(off uint64) []byte {
		buf := make([]byte, metaEnd)
		n, _ := f.ReadAt(buf, int64(off))
		return buf[:n]
	}
	m0, err0 := parseMeta(read(0))
	var ps uint64
	if err0 == nil {
		ps = m0.pageSize
	} else {
		for off := uint64(minPageSize); off <= maxPageSize && off+minPageSize < size; off *= 2 {
			if m, err := parseMeta(read(off)); err == nil {
				ps = m.pageSize
				break
			}
		}
	}
	switch {
	case ps == 0:
		c.addf("no valid meta page (meta page 0: %v): the file is not a bbolt database or its first pages are destroyed", err0)
		return meta{}, 0, false
	case ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0:
		c.addf("the meta page gives an impossible page size of %d bytes", ps)
		return meta{}, 0, false
	case size < 2*ps:
		c.addf("the file is %d bytes long, shorter than its two meta pages of %d bytes each: the file was cut short", size, ps)
		return meta{}, 0, false
	}
	m0, err0 = parseMeta(read(0))
	m1, err1 := parseMeta(read(ps))
	a, errA, b, errB := m0, err0, m1, err1
	if m1.txid > m0.txid {
		a, errA, b, errB = m1, err1, m0, err0
	}
	m := a
	switch {
	case errA == nil:
	case errB == nil:
		m = b
	default:
		c.addf("both meta pages are invalid (page 0: %v; page 1: %v)", err0, err1)
		return meta{}, 0, false
	}
	if m.pageSize != ps {
		c.addf("the meta pages disagree on the page size (%d and %d bytes)", ps, m.pageSize)
		return meta{}, 0, false
	}
	return m, ps, true
}

// walker checks pages in data, the file up to its high-water mark.
type walker struct {
	c          *fileCheck
	data       []byte
	ps, hwm    uint64
	used, free []bool
}

// page returns the bytes of page id and its overflow pages, after checking
// that they lie below the high-water mark, that the page names itself, and
// that no other reference reached them before.
func (w *walker) page(id uint64, what string) ([]byte, bool) {
	if id < 2 || id >= w.hwm {
		w.c.addf("%s refers to page %d, outside the file's %d pages", what, id, w.hwm)
		return nil, false
	}
	start := id * w.ps
	hdr := w.data[start : start+pageHeaderSize]
	if got := order.Uint64(hdr); got != id {
		w.c.addf("page %d (%s) names itself page %d", id, what, got)
		return nil, false
	}
	overflow := uint64(order.Uint32(hdr[12:]))
	if overflow >= w.hwm-id {
		w.c.addf("page %d (%s) runs over %d more pages, past the file's %d pages", id, what, overflow, w.hwm)
		return nil, false
	}
	for p := id; p <= id+overflow; p++ {
		if w.used[p] {
			w.c.addf("page %d (%s) is referenced twice", p, what)
			return nil, false
		}
		w.used[p] = true
	}
	return w.data[start : (id+overflow+1)*w.ps], true
}

func (w *walker) readFreelist(id uint64) {
	p, ok := w.page(id, "freelist")
	if !ok {
		return
	}
	if flags := order.Uint16(p[8:]); flags != pageFreelist {
		w.c.addf("the freelist page %d has type %#x", id, flags)
		return
	}
	body := p[pageHeaderSize:]
	count := uint64(order.Uint16(p[10:]))
	if count == 0xFFFF {
		count = order.Uint64(body)
		body = body[8:]
	}
	if count > uint64(len(body))/8 {
		w.c.addf("the freelist page %d lists %d pages, more than it holds", id, count)
		return
	}
	for i := range count {
		free := order.Uint64(body[i*8:])
		switch {
		case free < 2 || free >= w.hwm:
			w.c.addf("the freelist lists page %d, outside the file's %d pages", free, w.hwm)
			return
		case w.free[free]:
			w.c.addf("the freelist lists page %d twice", free)
			return
		}
		w.free[free] = true
		w.c.freePages++
	}
}

// tree checks the bucket tree rooted at page id, whose keys must lie in
// [lo, hi) (nil: unbounded).
func (w *walker) tree(id uint64, lo, hi []byte, depth int) {
	if w.c.full() {
		return
	}
	what := "bucket page"
	p, ok := w.page(id, what)
	if !ok {
		return
	}
	for i := id; i < id+1+uint64(order.Uint32(p[12:])); i++ {
		if w.free[i] {
			w.c.addf("page %d is in use but also listed as free", i)
			return
		}
	}
	w.node(id, p, lo, hi, depth)
}

// node checks the elements of a branch or leaf page p: the page's bytes, or
// an inline bucket's page inside its parent's value.
func (w *walker) node(id uint64, p []byte, lo, hi []byte, depth int) {
	flags, count := order.Uint16(p[8:]), uint64(order.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(p)) {
		w.c.addf("page %d has %d elements, more than it holds", id, count)
		return
	}
	var keys [][]byte
	var children []uint64
	switch flags {
	case pageBranch:
		if count == 0 {
			w.c.addf("branch page %d is empty", id)
			return
		}
		for i := range count {
			e := pageHeaderSize + i*elementSize
			pos, ksize := uint64(order.Uint32(p[e:])), uint64(order.Uint32(p[e+4:]))
			key, ok := w.slice(id, p, e+pos, ksize)
			if !ok {
				return
			}
			keys = append(keys, key)
			children = append(children, order.Uint64(p[e+8:]))
		}
	case pageLeaf:
		for i := range count {
			e := pageHeaderSize + i*elementSize
			eflags := order.Uint32(p[e:])
			pos, ksize, vsize := uint64(order.Uint32(p[e+4:])), uint64(order.Uint32(p[e+8:])), uint64(order.Uint32(p[e+12:]))
			kv, ok := w.slice(id, p, e+pos, ksize+vsize)
			if !ok {
				return
			}
			key, value := kv[:ksize], kv[ksize:]
			keys = append(keys, key)
			switch eflags {
			case 0:
			case leafIsBucket:
				w.bucket(id, key, value, depth)
			default:
				w.c.addf("page %d: key %q has unknown flags %#x", id, key, eflags)
				return
			}
		}
	default:
		w.c.addf("page %d has type %#x where a branch or leaf page belongs", id, flags)
		return
	}
	for i, k := range keys {
		switch {
		case len(k) == 0:
			w.c.addf("page %d: element %d has an empty key", id, i)
			return
		case i == 0 && lo != nil && bytes.Compare(k, lo) < 0,
			i > 0 && bytes.Compare(keys[i-1], k) >= 0,
			hi != nil && bytes.Compare(k, hi) >= 0:
			w.c.addf("page %d: key %d (%q) is out of order", id, i, k)
			return
		}
	}
	for i, child := range children {
		next := hi
		if i+1 < len(keys) {
			next = keys[i+1]
		}
		w.tree(child, keys[i], next, depth)
	}
}

// slice returns n bytes at off in page p, or reports that they overrun it.
func (w *walker) slice(id uint64, p []byte, off, n uint64) ([]byte, bool) {
	if off > uint64(len(p)) || n > uint64(len(p))-off {
		w.c.addf("page %d: an element points past the end of the page", id)
		return nil, false
	}
	return p[off : off+n], true
}

// bucket checks the bucket whose header is value: a tree of its own pages,
// or an inline page that follows the header.
func (w *walker) bucket(id uint64, name, value []byte, depth int) {
	if len(value) < bucketHeaderSize {
		w.c.addf("page %d: bucket %q has a header of %d bytes", id, name, len(value))
		return
	}
	root := order.Uint64(value)
	if root != 0 {
		w.tree(root, nil, nil, depth)
		return
	}
	inline := value[bucketHeaderSize:]
	switch {
	case len(inline) < pageHeaderSize:
		w.c.addf("page %d: inline bucket %q is cut short", id, name)
	case depth >= maxInlineDepth:
		w.c.addf("page %d: inline bucket %q is nested too deep", id, name)
	case order.Uint16(inline[8:]) != pageLeaf:
		w.c.addf("page %d: inline bucket %q is not a leaf", id, name)
	default:
		w.node(id, inline, nil, nil, depth+1)
	}
}
