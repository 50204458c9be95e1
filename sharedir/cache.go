package sharedir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"

	"github.com/servent/servent/internal/atomicfile"
)

// The hash cache remembers, per shared file, the index it was given, its
// SHA-1 and its Tiger tree, keyed by relative path, size and modification
// time, so that a restart neither rehashes an unchanged library nor
// renumbers it. It is read from disk, which may hold anything: every field
// is checked (every size before anything is allocated for it), the whole
// file is covered by a CRC-32C, and any defect rejects the file as a whole.
//
// Layout (little-endian), version 2:
//
//	magic "SRVTHC\r\n" (8) | version u32 | nextIndex u32 | count u32
//	count x { flags u8 (bit0 hashed, bit1 tree) | index u32 | size i64 |
//	          mtime i64 | [sha1 20 if hashed] |
//	          [tth 24 | nodes uvarint | nodes x 24, if tree] |
//	          pathLen uvarint | path }
//	crc32c u32 of everything before it
//
// The tree is its bottom row at thex.GoodDepth(size): nodes must be
// thex.NodeCount(size, GoodDepth(size)) (1 to 2048), and the tree flag
// needs the hashed one. At depth 0 the row is the root alone and must
// equal it; deeper rows are folded and checked against the root when the
// tree is served (Library.Tree), not at every start.
//
// Version 1 is version 2 without the tree flag. It is still read: its
// files keep index and SHA-1 and get their trees in the background.
// Version 2 is always written.
const (
	cacheFile      = "sharedir.cache"
	cacheMagic     = "SRVTHC\r\n"
	cacheVersion   = 2
	cacheVersionV1 = 1
	cacheHeader    = len(cacheMagic) + 12
	minRecord      = 1 + 4 + 8 + 8 + 1 + 1
	maxCachePath   = 4096
	// maxCacheSize bounds what is read: 10 million files of ~100 bytes.
	maxCacheSize = 1 << 30
	flagHashed   = 1
	flagTree     = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errBadCache = errors.New("sharedir: bad hash cache")

type cacheRecord struct {
	rel    string
	index  uint32
	size   int64
	mtime  int64
	hashed bool
	sha1   protocol.SHA1
	tree   bool
	tth    protocol.TTH
	row    []thex.Hash // bottom row at GoodDepth(size), with tree
}

// treeNodes is the node count of the stored row for a file of size bytes.
func treeNodes(size int64) int64 {
	return thex.NodeCount(size, thex.GoodDepth(size))
}

// validTree reports whether r's tree can be written (and read back).
func (r *cacheRecord) validTree() bool {
	if !r.tree || !r.hashed || int64(len(r.row)) != treeNodes(r.size) {
		return false
	}
	return len(r.row) > 1 || r.row[0] == thex.Hash(r.tth)
}

type cacheState struct {
	nextIndex uint32
	records   []cacheRecord
}

func encodeCache(st cacheState) []byte {
	size := cacheHeader + 4
	for _, r := range st.records {
		size += minRecord + 20 + len(r.rel)
		if r.validTree() {
			size += len(r.tth) + binary.MaxVarintLen64 + len(r.row)*thex.HashSize
		}
	}
	b := make([]byte, 0, size)
	b = append(b, cacheMagic...)
	b = binary.LittleEndian.AppendUint32(b, cacheVersion)
	b = binary.LittleEndian.AppendUint32(b, st.nextIndex)
	n := 0
	for _, r := range st.records {
		if validRel([]byte(r.rel)) && r.index != 0 && r.size > 0 {
			n++
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for _, r := range st.records {
		if !validRel([]byte(r.rel)) || r.index == 0 || r.size <= 0 {
			continue // never written, so never read back as corrupt
		}
		var flags byte
		if r.hashed {
			flags |= flagHashed
		}
		tree := r.validTree()
		if tree {
			flags |= flagTree
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint32(b, r.index)
		b = binary.LittleEndian.AppendUint64(b, uint64(r.size))
		b = binary.LittleEndian.AppendUint64(b, uint64(r.mtime))
		if r.hashed {
			b = append(b, r.sha1[:]...)
		}
		if tree {
			b = append(b, r.tth[:]...)
			b = binary.AppendUvarint(b, uint64(len(r.row)))
			for i := range r.row {
				b = append(b, r.row[i][:]...)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(r.rel)))
		b = append(b, r.rel...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func decodeCache(b []byte) (cacheState, error) {
	var st cacheState
	if len(b) < cacheHeader+4 {
		return st, fmt.Errorf("%w: %d bytes, truncated", errBadCache, len(b))
	}
	if string(b[:len(cacheMagic)]) != cacheMagic {
		return st, fmt.Errorf("%w: bad magic", errBadCache)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return st, fmt.Errorf("%w: checksum mismatch (truncated or corrupt)", errBadCache)
	}
	p := body[len(cacheMagic):]
	version := binary.LittleEndian.Uint32(p)
	known := byte(flagHashed | flagTree)
	switch version {
	case cacheVersion:
	case cacheVersionV1:
		known = flagHashed
	default:
		return st, fmt.Errorf("%w: version %d, want %d or %d", errBadCache, version, cacheVersion, cacheVersionV1)
	}
	st.nextIndex = binary.LittleEndian.Uint32(p[4:])
	count := binary.LittleEndian.Uint32(p[8:])
	p = p[12:]
	if uint64(count) > uint64(len(p)/minRecord) {
		return st, fmt.Errorf("%w: %d records cannot fit in %d bytes", errBadCache, count, len(p))
	}
	st.records = make([]cacheRecord, 0, count)
	seenRel := make(map[string]struct{}, count)
	seenIdx := make(map[uint32]struct{}, count)
	for i := uint32(0); i < count; i++ {
		if len(p) < minRecord-2 {
			return st, fmt.Errorf("%w: record %d truncated", errBadCache, i)
		}
		var r cacheRecord
		flags := p[0]
		if flags&^known != 0 {
			return st, fmt.Errorf("%w: record %d: unknown flags %#x", errBadCache, i, flags)
		}
		r.hashed = flags&flagHashed != 0
		r.tree = flags&flagTree != 0
		if r.tree && !r.hashed {
			return st, fmt.Errorf("%w: record %d: tree without SHA-1", errBadCache, i)
		}
		r.index = binary.LittleEndian.Uint32(p[1:])
		r.size = int64(binary.LittleEndian.Uint64(p[5:]))
		r.mtime = int64(binary.LittleEndian.Uint64(p[13:]))
		p = p[21:]
		if r.index == 0 || r.index >= st.nextIndex || r.size <= 0 {
			return st, fmt.Errorf("%w: record %d: index %d size %d", errBadCache, i, r.index, r.size)
		}
		if r.hashed {
			if len(p) < len(r.sha1) {
				return st, fmt.Errorf("%w: record %d truncated", errBadCache, i)
			}
			copy(r.sha1[:], p)
			p = p[len(r.sha1):]
		}
		if r.tree {
			if len(p) < len(r.tth) {
				return st, fmt.Errorf("%w: record %d truncated", errBadCache, i)
			}
			copy(r.tth[:], p)
			p = p[len(r.tth):]
			n, k := binary.Uvarint(p)
			want := treeNodes(r.size)
			if k <= 0 || want < 1 || want > 1<<thex.MaxDepth || n != uint64(want) {
				return st, fmt.Errorf("%w: record %d: bad tree node count", errBadCache, i)
			}
			p = p[k:]
			if n > uint64(len(p)/thex.HashSize) {
				return st, fmt.Errorf("%w: record %d truncated", errBadCache, i)
			}
			r.row = make([]thex.Hash, n)
			for j := range r.row {
				copy(r.row[j][:], p[j*thex.HashSize:])
			}
			p = p[int(n)*thex.HashSize:]
			if n == 1 && r.row[0] != thex.Hash(r.tth) {
				return st, fmt.Errorf("%w: record %d: tree root mismatch", errBadCache, i)
			}
		}
		n, k := binary.Uvarint(p)
		if k <= 0 || n == 0 || n > maxCachePath || n > uint64(len(p)-k) {
			return st, fmt.Errorf("%w: record %d: bad path length", errBadCache, i)
		}
		rel := p[k : k+int(n)]
		p = p[k+int(n):]
		if !validRel(rel) {
			return st, fmt.Errorf("%w: record %d: bad path %q", errBadCache, i, rel)
		}
		r.rel = string(rel)
		if _, dup := seenRel[r.rel]; dup {
			return st, fmt.Errorf("%w: record %d: duplicate path", errBadCache, i)
		}
		if _, dup := seenIdx[r.index]; dup {
			return st, fmt.Errorf("%w: record %d: duplicate index", errBadCache, i)
		}
		seenRel[r.rel] = struct{}{}
		seenIdx[r.index] = struct{}{}
		st.records = append(st.records, r)
	}
	if len(p) != 0 {
		return st, fmt.Errorf("%w: %d trailing bytes", errBadCache, len(p))
	}
	return st, nil
}

// validRel accepts a relative slash path that stays inside the root: no
// NUL, no leading '/', no empty, "." or ".." element. Any other byte is
// fine: Unix file names need not be UTF-8 and may hold a backslash.
func validRel(rel []byte) bool {
	if len(rel) == 0 {
		return false
	}
	for _, elem := range bytes.Split(rel, []byte("/")) {
		switch string(elem) {
		case "", ".", "..":
			return false
		}
		if bytes.IndexByte(elem, 0) >= 0 {
			return false
		}
	}
	return true
}

func readCache(path string) (cacheState, error) {
	f, err := os.Open(path)
	if err != nil {
		return cacheState{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return cacheState{}, fmt.Errorf("stat hash cache: %w", err)
	}
	if fi.Size() > maxCacheSize {
		return cacheState{}, fmt.Errorf("%w: %d bytes is too large", errBadCache, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCacheSize+1))
	if err != nil {
		return cacheState{}, fmt.Errorf("read hash cache: %w", err)
	}
	return decodeCache(b)
}

// writeCache replaces path atomically: a crash leaves the old file or the
// new one, never a mix.
func writeCache(path string, st cacheState) error {
	if err := atomicfile.Write(path, encodeCache(st), 0o600); err != nil {
		return fmt.Errorf("write hash cache: %w", err)
	}
	return nil
}
