package sharedir

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// mod251 is the lab's test pattern: byte i = i mod 251.
func mod251(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// freshTree is the tree a new thex.Hasher computes for data.
func freshTree(data []byte) *thex.Tree {
	h := thex.New()
	h.Write(data)
	return h.Tree()
}

func mustTTH(t testing.TB, s string) protocol.TTH {
	t.Helper()
	h, err := protocol.ParseTTHBase32(s)
	require.NoError(t, err)
	return h
}

// checkTree checks the TTH and the tree the library gives for data.
func checkTree(t *testing.T, l *Library, name string, data []byte) *thex.Tree {
	t.Helper()
	f := byName(t, l, name)
	require.Equal(t, protocol.SHA1(sha1.Sum(data)), f.SHA1, name)
	require.Equal(t, protocol.TTH(thex.Sum(data)), f.TTH, name)
	tr, ok := l.Tree(f.SHA1)
	require.True(t, ok, name)
	want := freshTree(data)
	require.Equal(t, want, tr, name)
	require.Equal(t, thex.GoodDepth(int64(len(data))), tr.Depth, name)
	require.Equal(t, thex.Hash(f.TTH), tr.Root(), name)
	return tr
}

func TestTTHSizes(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"one.bin":         {0x42},
		"1024A.bin":       bytes.Repeat([]byte("A"), 1024),
		"1025A.bin":       bytes.Repeat([]byte("A"), 1025),
		"5000.bin":        mod251(5000),
		"600000.bin":      mod251(600000),
		"units.bin":       mod251(unitMax*5 + 3), // several units, depth 0, partial last
		"depth1.bin":      mod251(300<<10 + 7),
		"stream3MiB.bin":  mod251(3<<20 + 1000), // streaming, several chunks, with the helper
		"exact1MiB.bin":   mod251(hashBufSize),
		"under-unit.bin":  mod251(unitMax - 1),
		"parallelMin.bin": mod251(parallelMin),
	}
	for n, b := range files {
		writeFile(t, dir, n, string(b))
	}
	writeFile(t, dir, "empty.bin", "")
	l := open(t, Config{Dir: dir})
	_, ok := l.Tree(sha1.Sum(files["5000.bin"]))
	require.False(t, ok, "not hashed yet")
	require.True(t, byName(t, l, "5000.bin").TTH.IsZero())
	start(t, l)
	waitHashed(t, l)
	require.NotContains(t, names(l.Files()), "empty.bin", "an empty file is not shared")
	for n, b := range files {
		checkTree(t, l, n, b)
	}

	// Known vectors (GNUTELLA-TRANSFERS.md 28.2, 28.3).
	require.Equal(t, mustTTH(t, "L66Q4YVNAFWVS23X2HJIRA5ZJ7WXR3F26RSASFA"), byName(t, l, "1024A.bin").TTH)
	require.Equal(t, mustTTH(t, "PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY"), byName(t, l, "1025A.bin").TTH)
	require.Equal(t, mustTTH(t, "MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA"), byName(t, l, "5000.bin").TTH)
	f := byName(t, l, "600000.bin")
	require.Equal(t, mustTTH(t, "VQWEVLI5CZLO25BLCGKT5TI75RCYAISG5C5EKUI"), f.TTH)
	tr, ok := l.Tree(f.SHA1)
	require.True(t, ok)
	require.Equal(t, 2, tr.Depth)
	var bottom []string
	for _, h := range tr.Bottom() {
		bottom = append(bottom, h.Base32())
	}
	require.Equal(t, []string{
		"X57J5VEYTAVQZE5WEPPTRKRXC65D2B76QZKJ7MI",
		"VXVS2TS7QRB2FMA5QAQQFBLIXSSLQ5QRNFYQI2Y",
		"YRRRH3YR455WT7OG6DWJUGLOGLFDJNMEBWNL27Y",
	}, bottom)
	require.Equal(t, 6, tr.NodeTotal())

	// Only the bottom row is stored, the root alone for small files.
	l.mu.RLock()
	for _, e := range l.snap.Load().files {
		require.True(t, e.hasTree)
		if thex.GoodDepth(e.size) == 0 {
			require.Nil(t, e.row, e.name)
		} else {
			require.Len(t, e.row, int(thex.NodeCount(e.size, thex.GoodDepth(e.size))), e.name)
		}
	}
	l.mu.RUnlock()

	// The caller owns the tree it gets.
	tr.Rows[2][0] = thex.Hash{}
	again, ok := l.Tree(f.SHA1)
	require.True(t, ok)
	require.Equal(t, freshTree(files["600000.bin"]), again)

	_, ok = l.Tree(protocol.SHA1{1, 2, 3})
	require.False(t, ok, "unknown file")
}

// Large files go through the memory mapping, window by window, and the
// read path; both give the tree of thex.
func TestTTHLargeMappedAndStreamed(t *testing.T) {
	defer func(w, m int64) { mmapWindow, mmapMin = w, m }(mmapWindow, mmapMin)
	data := mod251(int(2*mmapMin) + 12345)
	dir := t.TempDir()
	writeFile(t, dir, "large.bin", string(data))
	cases := []struct {
		name         string
		window, min_ int64
	}{
		{"mapped", 1 << 20, mmapMin},
		// A window that is no multiple of the tree's units: units go
		// on across windows.
		{"mapped-odd-window", 1<<20 + 4096, mmapMin},
		{"mapped-one-window", 64 << 20, mmapMin},
		{"streamed", 64 << 20, 1 << 62},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mmapWindow, mmapMin = c.window, c.min_
			l := open(t, Config{Dir: dir})
			start(t, l)
			waitHashed(t, l)
			tr := checkTree(t, l, "large.bin", data)
			require.Equal(t, thex.GoodDepth(int64(len(data))), tr.Depth)
			require.NoError(t, l.Close())
		})
	}
}

// The v2 records with trees survive the round trip; what could not be
// read back is not written.
func TestCacheRoundTripTrees(t *testing.T) {
	small := mod251(5000)
	big := mod251(600000)
	st := cacheState{nextIndex: 10, records: []cacheRecord{
		{rel: "a/b.txt", index: 3, size: 5, mtime: 12345, hashed: true, sha1: protocol.SHA1{1, 2, 3}},
		{rel: "small.bin", index: 4, size: 5000, mtime: 1, hashed: true, sha1: sha1.Sum(small),
			tree: true, tth: protocol.TTH(thex.Sum(small)), row: []thex.Hash{thex.Sum(small)}},
		{rel: "big.bin", index: 5, size: 600000, mtime: 2, hashed: true, sha1: sha1.Sum(big),
			tree: true, tth: protocol.TTH(thex.Sum(big)), row: freshTree(big).Bottom()},
		{rel: "Café.mp3", index: 9, size: 1 << 40, mtime: -1},
	}}
	b := encodeCache(st)
	require.Equal(t, uint32(cacheVersion), binary.LittleEndian.Uint32(b[len(cacheMagic):]))
	got, err := decodeCache(b)
	require.NoError(t, err)
	require.Equal(t, st, got)

	// Rows of the wrong length, a tree without a SHA-1, a depth-0 row
	// that is not the root: written without the tree.
	bad := cacheState{nextIndex: 10, records: []cacheRecord{
		{rel: "short", index: 1, size: 600000, hashed: true, tree: true, tth: protocol.TTH{1}, row: []thex.Hash{{1}}},
		{rel: "nosha", index: 2, size: 5, tree: true, tth: protocol.TTH{2}, row: []thex.Hash{{2}}},
		{rel: "wrongroot", index: 3, size: 5, hashed: true, tree: true, tth: protocol.TTH{3}, row: []thex.Hash{{4}}},
	}}
	got, err = decodeCache(encodeCache(bad))
	require.NoError(t, err)
	for _, r := range got.records {
		require.False(t, r.tree, r.rel)
		require.Nil(t, r.row, r.rel)
	}
}

// withCRC replaces the checksum of b, so that the record parser sees it.
func withCRC(b []byte) []byte {
	body := bytes.Clone(b[:len(b)-4])
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, crcTable))
}

// encodeCacheV1 writes st in the format of version 1 (no trees).
func encodeCacheV1(st cacheState) []byte {
	recs := make([]cacheRecord, len(st.records))
	for i, r := range st.records {
		r.tree, r.tth, r.row = false, protocol.TTH{}, nil
		recs[i] = r
	}
	b := encodeCache(cacheState{nextIndex: st.nextIndex, records: recs})
	binary.LittleEndian.PutUint32(b[len(cacheMagic):], cacheVersionV1)
	return withCRC(b)
}

func TestCacheV2Strict(t *testing.T) {
	data := mod251(600000)
	rec := cacheRecord{rel: "big.bin", index: 1, size: 600000, mtime: 7, hashed: true, sha1: sha1.Sum(data),
		tree: true, tth: protocol.TTH(thex.Sum(data)), row: freshTree(data).Bottom()}
	good := encodeCache(cacheState{nextIndex: 2, records: []cacheRecord{rec}})
	_, err := decodeCache(good)
	require.NoError(t, err)
	// Offsets in the one record.
	flagsAt := cacheHeader
	tthAt := flagsAt + 21 + 20
	countAt := tthAt + 24
	rowAt := countAt + 1
	edit := func(f func(b []byte) []byte) []byte { return withCRC(f(bytes.Clone(good))) }
	cases := map[string][]byte{
		"node count high": edit(func(b []byte) []byte { b[countAt] = 4; return b }),
		"node count low":  edit(func(b []byte) []byte { b[countAt] = 2; return b }),
		"node count huge": edit(func(b []byte) []byte {
			return slices.Concat(b[:countAt], binary.AppendUvarint(nil, 1<<40), b[countAt+1:])
		}),
		"node count overlong": edit(func(b []byte) []byte {
			return slices.Concat(b[:countAt], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, b[countAt+1:])
		}),
		"rows truncated":     edit(func(b []byte) []byte { return slices.Concat(b[:rowAt+50], b[len(b)-4:]) }),
		"tree without sha1":  edit(func(b []byte) []byte { b[flagsAt] = flagTree; return b }),
		"unknown flag":       edit(func(b []byte) []byte { b[flagsAt] |= 4; return b }),
		"tree flag in v1":    edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(cacheMagic):], 1); return b }),
		"version 3":          edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(cacheMagic):], 3); return b }),
		"tree past the end":  edit(func(b []byte) []byte { return slices.Concat(b[:tthAt+10], b[len(b)-4:]) }),
		"trailing node byte": edit(func(b []byte) []byte { return slices.Concat(b[:len(b)-4], []byte{0}, b[len(b)-4:]) }),
	}
	for name, b := range cases {
		_, err := decodeCache(b)
		require.ErrorIs(t, err, errBadCache, name)
	}

	// Depth 0: the row is the root, nothing else is accepted.
	small := mod251(5000)
	rec0 := cacheRecord{rel: "small.bin", index: 1, size: 5000, hashed: true, sha1: sha1.Sum(small),
		tree: true, tth: protocol.TTH(thex.Sum(small)), row: []thex.Hash{thex.Sum(small)}}
	b0 := encodeCache(cacheState{nextIndex: 2, records: []cacheRecord{rec0}})
	_, err = decodeCache(b0)
	require.NoError(t, err)
	b0 = bytes.Clone(b0)
	b0[cacheHeader+21+20+24+1] ^= 1 // the row's node
	_, err = decodeCache(withCRC(b0))
	require.ErrorIs(t, err, errBadCache)

	// Version 1 files are read, without trees.
	st, err := decodeCache(encodeCacheV1(cacheState{nextIndex: 2, records: []cacheRecord{rec}}))
	require.NoError(t, err)
	require.Len(t, st.records, 1)
	require.True(t, st.records[0].hashed)
	require.False(t, st.records[0].tree)
	require.Equal(t, rec.sha1, st.records[0].sha1)
}

// events records the hash and tree hooks in order.
type events struct {
	mu  sync.Mutex
	log []string
}

func (ev *events) hash(p string) { ev.add("sha1 " + filepath.Base(p)) }
func (ev *events) tree(p string) { ev.add("tree " + filepath.Base(p)) }

func (ev *events) add(s string) {
	ev.mu.Lock()
	ev.log = append(ev.log, s)
	ev.mu.Unlock()
}

func (ev *events) get() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return slices.Clone(ev.log)
}

func (ev *events) count(prefix string) int {
	n := 0
	for _, s := range ev.get() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func allTrees(l *Library) bool {
	for _, f := range l.Files() {
		if f.TTH.IsZero() {
			return false
		}
		if _, ok := l.Tree(f.SHA1); !ok {
			return false
		}
	}
	return true
}

// A cache of version 1 keeps indexes and SHA-1s; the trees are computed
// in the background, after the files that need a SHA-1, and saved.
func TestCacheV1Upgrade(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	contents := map[string][]byte{
		"a.bin":      mod251(5000),
		"b.bin":      mod251(600000),
		"c.bin":      mod251(3<<20 + 5),
		"sub/d.txt":  []byte("d"),
		"sub/e.flac": mod251(300 << 10),
	}
	for n, b := range contents {
		writeFile(t, dir, n, string(b))
	}
	l, err := Open(Config{Dir: dir, DataDir: data})
	require.NoError(t, err)
	start(t, l)
	waitHashed(t, l)
	before := l.Files()
	trees := map[protocol.SHA1]*thex.Tree{}
	for _, f := range before {
		tr, ok := l.Tree(f.SHA1)
		require.True(t, ok)
		trees[f.SHA1] = tr
	}
	require.NoError(t, l.Close())

	// Downgrade the cache to version 1, then add files needing a SHA-1.
	path := filepath.Join(data, cacheFile)
	st, err := readCache(path)
	require.NoError(t, err)
	require.Len(t, st.records, len(contents))
	for _, r := range st.records {
		require.True(t, r.tree, r.rel)
	}
	require.NoError(t, os.WriteFile(path, encodeCacheV1(st), 0o600))
	writeFile(t, dir, "new1.bin", string(mod251(4000)))
	writeFile(t, dir, "new2.bin", string(mod251(2<<20)))

	var ev events
	l2 := open(t, Config{Dir: dir, DataDir: data, HashWorkers: 1, hashHook: ev.hash, treeHook: ev.tree})
	for _, f := range before {
		got, ok := l2.ByIndex(f.Index)
		require.True(t, ok)
		require.Equal(t, f.Path, got.Path, "index kept")
		require.Equal(t, f.SHA1, got.SHA1, "SHA-1 kept")
		require.True(t, got.TTH.IsZero(), "no tree in a version 1 cache")
		_, ok = l2.Tree(f.SHA1)
		require.False(t, ok)
		got2, ok := l2.BySHA1(f.SHA1)
		require.True(t, ok, "served meanwhile")
		require.Equal(t, got, got2)
	}
	start(t, l2)
	waitHashed(t, l2)
	require.Eventually(t, func() bool { return allTrees(l2) }, 10*time.Second, time.Millisecond)
	log := ev.get()
	require.Equal(t, []string{"sha1 new1.bin", "sha1 new2.bin"}, log[:2], "SHA-1s first: %v", log)
	require.Equal(t, 2, ev.count("sha1 "), "no SHA-1 rehashed: %v", log)
	require.Equal(t, len(contents), ev.count("tree "), "each old file's tree once: %v", log)
	for _, f := range before {
		got, ok := l2.ByIndex(f.Index)
		require.True(t, ok)
		require.Equal(t, protocol.TTH(trees[f.SHA1].Root()), got.TTH)
		tr, ok := l2.Tree(f.SHA1)
		require.True(t, ok)
		require.Equal(t, trees[f.SHA1], tr)
	}
	checkTree(t, l2, "new2.bin", mod251(2<<20))
	// Saved once the trees are done, before Close.
	require.Eventually(t, func() bool {
		st, err := readCache(path)
		if err != nil {
			return false
		}
		for _, r := range st.records {
			if !r.tree {
				return false
			}
		}
		return len(st.records) == len(contents)+2
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, l2.Close())

	// A restart keeps the trees: nothing is hashed.
	var ev3 events
	l3 := open(t, Config{Dir: dir, DataDir: data, hashHook: ev3.hash, treeHook: ev3.tree})
	require.True(t, allTrees(l3), "trees from the cache, before Start")
	start(t, l3)
	waitHashed(t, l3)
	for n, b := range contents {
		checkTree(t, l3, filepath.Base(n), b)
	}
	require.NoError(t, l3.Close())
	require.Empty(t, ev3.get())
}

// A file that only lacks its tree gives way to new files: its tree is
// computed again once they are hashed.
func TestTreeYieldsToNewFiles(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	big := mod251(3 << 20) // streamed in chunks: the job checks for new work
	writeFile(t, dir, "big.bin", string(big))
	l, err := Open(Config{Dir: dir, DataDir: data})
	require.NoError(t, err)
	start(t, l)
	waitHashed(t, l)
	require.NoError(t, l.Close())
	path := filepath.Join(data, cacheFile)
	st, err := readCache(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, encodeCacheV1(st), 0o600))

	var ev events
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	hook := func(p string) {
		ev.tree(p)
		once.Do(func() {
			close(started)
			<-release
		})
	}
	l2 := open(t, Config{Dir: dir, DataDir: data, HashWorkers: 1, hashHook: ev.hash, treeHook: hook,
		watchDelay: time.Hour, RescanInterval: -1})
	start(t, l2)
	<-started
	writeFile(t, dir, "new.bin", "new file")
	require.NoError(t, l2.Rescan()) // queues new.bin: the tree job yields
	close(release)
	waitHashed(t, l2)
	require.Eventually(t, func() bool { return allTrees(l2) }, 10*time.Second, time.Millisecond)
	require.Equal(t, []string{"tree big.bin", "sha1 new.bin", "tree big.bin"}, ev.get())
	checkTree(t, l2, "big.bin", big)
	checkTree(t, l2, "new.bin", []byte("new file"))
}

// The benchmarks' baseline hashes SHA-1 alone and queues no tree.
func TestNoTreeKnob(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.bin", string(mod251(600000)))
	var ev events
	l := open(t, Config{Dir: dir, noTree: true, treeHook: ev.tree})
	start(t, l)
	waitHashed(t, l)
	f := byName(t, l, "a.bin")
	require.False(t, f.SHA1.IsZero())
	require.True(t, f.TTH.IsZero())
	_, ok := l.Tree(f.SHA1)
	require.False(t, ok)
	require.False(t, l.treeing())
	require.Empty(t, ev.get())
}

// Copies of one file: the tree is found through any of them.
func TestTreeOfCopies(t *testing.T) {
	dir := t.TempDir()
	data := mod251(400 << 10)
	for i := range 3 {
		writeFile(t, dir, fmt.Sprintf("copy%d.bin", i), string(data))
	}
	l := open(t, Config{Dir: dir})
	start(t, l)
	waitHashed(t, l)
	for i := range 3 {
		checkTree(t, l, fmt.Sprintf("copy%d.bin", i), data)
	}
	require.NoError(t, os.Remove(filepath.Join(dir, "copy0.bin")))
	require.NoError(t, l.Rescan())
	tr, ok := l.Tree(sha1.Sum(data))
	require.True(t, ok)
	require.Equal(t, freshTree(data), tr)
}

// A stored row that does not fold to the stored root (a forged cache: the
// CRC holds) is not served; the tree is computed again.
func TestForgedTreeRecomputed(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	content := mod251(600000)
	writeFile(t, dir, "f.bin", string(content))
	l, err := Open(Config{Dir: dir, DataDir: data})
	require.NoError(t, err)
	start(t, l)
	waitHashed(t, l)
	require.NoError(t, l.Close())
	path := filepath.Join(data, cacheFile)
	st, err := readCache(path)
	require.NoError(t, err)
	require.Len(t, st.records[0].row, 3)
	st.records[0].row[1][0] ^= 1
	require.NoError(t, writeCache(path, st))

	var ev events
	l2 := open(t, Config{Dir: dir, DataDir: data, hashHook: ev.hash, treeHook: ev.tree, Logger: slog.New(slog.DiscardHandler)})
	start(t, l2)
	waitHashed(t, l2)
	_, ok := l2.Tree(sha1.Sum(content))
	require.False(t, ok, "forged row refused")
	require.Eventually(t, func() bool {
		_, ok := l2.Tree(sha1.Sum(content))
		return ok
	}, 10*time.Second, time.Millisecond)
	checkTree(t, l2, "f.bin", content)
	require.Equal(t, []string{"tree f.bin"}, ev.get())
}
