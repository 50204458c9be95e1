package sharedir

import (
	"slices"
	"sort"
	"strings"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// entry is one shared file. Everything but the fields marked "mu" is fixed
// once the entry is published in a snapshot; a changed file gets a new entry.
type entry struct {
	index   uint32
	urnCode uint32 // QRPHashCode of the urn, once hashed (mu)
	rel     string // key: path relative to the root, as walked (slash separated)
	path    string // absolute path to open, inside the root
	name    string // base name as seen in the folder
	size    int64
	mtime   int64  // modification time, Unix nanoseconds
	canon   string // canonical keywords of name, joined by single spaces

	// Guarded by Library.mu.
	sha1     protocol.SHA1
	hashed   bool
	hasTree  bool
	removed  bool
	tth      protocol.TTH
	row      []thex.Hash // bottom row at thex.GoodDepth; nil at depth 0 (tth alone)
	sameNext *entry      // next entry with the same SHA-1 (copies of one file)

	// Guarded by Library.qmu.
	queued     bool
	hashErr    bool // unreadable: not retried until the file changes
	treeQueued bool
	treeErr    bool
}

// snapshot is an immutable keyword index over a set of files, swapped
// atomically after each scan so that queries never take the scan lock.
//
// Words and postings are stored in flat arrays (CSR layout): the postings of
// word w are postings[postOff[w]:postOff[w+1]], positions in files, in
// ascending order. Because words are sorted, all words sharing a prefix form
// one range [lo,hi), and postOff[hi]-postOff[lo] is the size of the union of
// their postings (with repeats), known without touching them.
type snapshot struct {
	files     []*entry // sorted by index
	words     []string // unique canonical words, sorted
	postOff   []uint32 // len(words)+1
	postings  []uint32
	fwOff     []uint32 // len(files)+1
	fileWords []uint32 // per file: its word ids, sorted, repeats kept
	bytes     uint64   // total size of files
}

var emptySnapshot = buildSnapshot(nil)

// canonWords returns the canonical keywords of a file name joined by single
// spaces: protocol.Keywords, with an ASCII fast path that gives the same
// result (checked by a test) without x/text's transformers.
func canonWords(name string) string {
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		return strings.Join(protocol.Keywords(name), " ")
	}
	b := make([]byte, 0, len(name))
	space := true // suppress leading and repeated separators
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		default:
			if !space {
				b = append(b, ' ')
				space = true
			}
			continue
		}
		b = append(b, c)
		space = false
	}
	if n := len(b); n > 0 && b[n-1] == ' ' {
		b = b[:n-1]
	}
	return string(b)
}

func buildSnapshot(files []*entry) *snapshot {
	s := &snapshot{files: files, fwOff: make([]uint32, len(files)+1)}
	ids := make(map[string]uint32, len(files))
	var tmp []string
	fw := make([]uint32, 0, len(files)*6)
	for i, e := range files {
		s.bytes += uint64(e.size)
		for w := range strings.SplitSeq(e.canon, " ") {
			if w == "" {
				continue
			}
			id, ok := ids[w]
			if !ok {
				id = uint32(len(tmp))
				ids[w] = id
				tmp = append(tmp, w)
			}
			fw = append(fw, id)
		}
		s.fwOff[i+1] = uint32(len(fw))
	}
	ids = nil

	// Renumber words in sorted order.
	order := make([]uint32, len(tmp))
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortFunc(order, func(a, b uint32) int { return strings.Compare(tmp[a], tmp[b]) })
	remap := make([]uint32, len(tmp))
	s.words = make([]string, len(tmp))
	for newID, old := range order {
		remap[old] = uint32(newID)
		s.words[newID] = tmp[old]
	}
	order, tmp = nil, nil
	for i := range fw {
		fw[i] = remap[fw[i]]
	}
	remap = nil
	s.fileWords = slices.Clip(fw)

	// Sort each file's word ids and count postings (a file once per word).
	s.postOff = make([]uint32, len(s.words)+1)
	for i := range files {
		ws := s.fileWords[s.fwOff[i]:s.fwOff[i+1]]
		slices.Sort(ws)
		for j, w := range ws {
			if j == 0 || ws[j-1] != w {
				s.postOff[w+1]++
			}
		}
	}
	for w := 1; w < len(s.postOff); w++ {
		s.postOff[w] += s.postOff[w-1]
	}
	s.postings = make([]uint32, s.postOff[len(s.words)])
	fill := slices.Clone(s.postOff[:len(s.words)])
	for i := range files {
		ws := s.fileWords[s.fwOff[i]:s.fwOff[i+1]]
		for j, w := range ws {
			if j == 0 || ws[j-1] != w {
				s.postings[fill[w]] = uint32(i)
				fill[w]++
			}
		}
	}
	return s
}

// byIndex finds a file by its index (files are sorted by index).
func (s *snapshot) byIndex(index uint32) *entry {
	i, ok := slices.BinarySearchFunc(s.files, index, func(e *entry, x uint32) int {
		switch {
		case e.index < x:
			return -1
		case e.index > x:
			return 1
		}
		return 0
	})
	if !ok {
		return nil
	}
	return s.files[i]
}

// prefixRange returns the range of words starting with p.
func (s *snapshot) prefixRange(p string) (lo, hi uint32) {
	l := sort.SearchStrings(s.words, p)
	h := l + sort.Search(len(s.words)-l, func(i int) bool {
		return !strings.HasPrefix(s.words[l+i], p)
	})
	return uint32(l), uint32(h)
}

// countIn counts the word ids of file f within [lo,hi). A name has a
// handful of words: a linear scan beats a binary search.
func (s *snapshot) countIn(f uint32, lo, hi uint32) int {
	n := 0
	for _, w := range s.fileWords[s.fwOff[f]:s.fwOff[f+1]] {
		if w >= hi {
			break
		}
		if w >= lo {
			n++
		}
	}
	return n
}

// firstIn returns the first word id of file f that is >= lo.
func (s *snapshot) firstIn(f uint32, lo uint32) uint32 {
	for _, w := range s.fileWords[s.fwOff[f]:s.fwOff[f+1]] {
		if w >= lo {
			return w
		}
	}
	return ^uint32(0)
}

// maxQueryWords bounds the work per query; GTKG queries are <= 256 bytes.
const maxQueryWords = 32

// maxCursors is the largest prefix range walked as sorted posting lists
// (k-way, sequential memory access); wider ranges are checked per
// candidate in its word ids (random access, but independent of k).
const maxCursors = 8

type qword struct {
	w      string
	amount int
	lo, hi uint32
	total  uint32
	k      int // cursors in use; 0: check by countIn
	cur    [maxCursors][]uint32
}

func (s *snapshot) initCursors(q *qword) {
	if q.hi-q.lo > maxCursors {
		return
	}
	for w := q.lo; w < q.hi; w++ {
		if p := s.postings[s.postOff[w]:s.postOff[w+1]]; len(p) > 0 {
			q.cur[q.k] = p
			q.k++
		}
	}
}

// seek advances c to its first posting >= f, galloping.
func seek(c []uint32, f uint32) []uint32 {
	if len(c) == 0 || c[0] >= f {
		return c
	}
	if c[len(c)-1] < f {
		return c[:0]
	}
	step := 1
	for step < len(c) && c[step] < f {
		step *= 2
	}
	i, _ := slices.BinarySearch(c[step/2:min(step+1, len(c))], f)
	return c[step/2+i:]
}

// has reports whether file f holds the query word q often enough. With
// ascending candidates and cursors, it only moves forward in q's lists.
func (s *snapshot) has(q *qword, f uint32, ascending bool) bool {
	if !ascending || q.k == 0 || q.amount > 1 {
		return s.countIn(f, q.lo, q.hi) >= q.amount
	}
	found := false
	for i := 0; i < q.k; i++ {
		q.cur[i] = seek(q.cur[i], f)
		if len(q.cur[i]) > 0 && q.cur[i][0] == f {
			found = true
		}
	}
	return found
}

// next pops the smallest posting across q's cursors (each file once).
func (q *qword) next() (uint32, bool) {
	best := ^uint32(0)
	ok := false
	for i := 0; i < q.k; i++ {
		if c := q.cur[i]; len(c) > 0 && c[0] <= best {
			best, ok = c[0], true
		}
	}
	if !ok {
		return 0, false
	}
	for i := 0; i < q.k; i++ {
		if c := q.cur[i]; len(c) > 0 && c[0] == best {
			q.cur[i] = c[1:]
		}
	}
	return best, true
}

// match appends to dst the files whose name holds, for every query word, a
// word starting with it (as many times as the query repeats it), as GTKG's
// entry_match() with qs_begin. It stops at max results and skips files for
// which skip returns true.
//
// The driving word is the one whose prefix range has the fewest postings.
// When its range is narrow, its posting lists are merged in ascending file
// order and the other words are checked by moving cursors forward in their
// own lists (a merge join, sequential in memory); otherwise candidates are
// checked in their sorted word ids. Nothing is materialised.
func (s *snapshot) match(query []string, max int, dst []*entry, skip func(*entry) bool) []*entry {
	if len(query) == 0 || max <= 0 {
		return dst
	}
	var buf [8]qword
	qs := buf[:0]
outer:
	for _, w := range query {
		for i := range qs {
			if qs[i].w == w {
				qs[i].amount++
				continue outer
			}
		}
		if len(qs) == maxQueryWords {
			break
		}
		lo, hi := s.prefixRange(w)
		if lo == hi {
			return dst
		}
		qs = append(qs, qword{w: w, amount: 1, lo: lo, hi: hi, total: s.postOff[hi] - s.postOff[lo]})
	}
	// Most selective first: qs[0] drives, the rest are checked in order.
	slices.SortFunc(qs, func(a, b qword) int { return int(a.total) - int(b.total) })
	for i := range qs {
		s.initCursors(&qs[i])
	}
	d := &qs[0]
	rest := qs[1:]
	accept := func(f uint32, ascending bool) bool {
		if d.amount > 1 && s.countIn(f, d.lo, d.hi) < d.amount {
			return false
		}
		for i := range rest {
			if !s.has(&rest[i], f, ascending) {
				return false
			}
		}
		e := s.files[f]
		if skip != nil && skip(e) {
			return false
		}
		if dst == nil {
			dst = make([]*entry, 0, min(max, 64))
		}
		dst = append(dst, e)
		return true
	}
	if d.k > 0 {
		for {
			f, ok := d.next()
			if !ok {
				return dst
			}
			if accept(f, true) && len(dst) >= max {
				return dst
			}
		}
	}
	for w := d.lo; w < d.hi; w++ {
		for _, f := range s.postings[s.postOff[w]:s.postOff[w+1]] {
			// A file with several words in the range is seen once per
			// word: only take it at its first one.
			if s.firstIn(f, d.lo) != w {
				continue
			}
			if accept(f, false) && len(dst) >= max {
				return dst
			}
		}
	}
	return dst
}
