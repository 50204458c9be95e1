package transfer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// Verifying downloads against the Tiger tree (GNUTELLA-TRANSFERS.md 23.6,
// gtk-gnutella's thex_download.c): when a source names its tree
// (X-Thex-URI) we fetch it once, on the same connection after a chunk,
// check it against the root we expect (from hits, a magnet, or the first
// X-Thex-URI), and from then on every chunk is checked as it arrives. A
// chunk that fails is not written: its source is banned at once and only
// that chunk is fetched again. The whole-file SHA-1 stays the final gate.
//
// The tree's bottom row covers spans of SpanSize bytes (1 KiB to a few
// MiB). A span inside one chunk is checked from the chunk's bytes; a span
// over several chunks is checked from disk when its last chunk arrives,
// and when it fails all its chunks are fetched again and each of their
// sources gets a strike (two strikes ban). Chunks that came before the
// tree are checked from disk when it arrives.

// maxTreeBody bounds a THEX answer: 4095 nodes of 24 bytes and the XML.
const maxTreeBody = 256 << 10

// treeStrikes bans a source whose chunks were in that many failed spans.
const treeStrikes = 2

// SetTTH gives the download of sha its expected Tiger tree root (from a
// hit or a magnet), used to check the tree a source serves. A root already
// known is kept.
func (m *Manager) SetTTH(sha protocol.SHA1, root protocol.TTH) {
	if root.IsZero() {
		return
	}
	d := m.download(sha)
	if d == nil {
		return
	}
	d.mu.Lock()
	if d.tth.IsZero() {
		d.tth = root
	}
	d.mu.Unlock()
}

// noteThexURI keeps what a source's X-Thex-URI names: "path;root".
func (d *download) noteThexURI(s *srcState, v string) {
	if v == "" {
		return
	}
	path, root, _ := strings.Cut(strings.TrimSpace(v), ";")
	r, err := protocol.ParseTTHBase32(strings.TrimSpace(root))
	if err != nil || !isN2X(path) || len(path) > 512 {
		return
	}
	d.mu.Lock()
	s.thexPath, s.thexRoot = path, r
	d.mu.Unlock()
}

// wantTree reports whether to fetch the tree from s now: none yet, s
// named one with the root we expect, and it did not fail us before.
func (d *download) wantTree(s *srcState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tree != nil || s.thexPath == "" || s.thexTried {
		return false
	}
	return d.tth.IsZero() || d.tth == s.thexRoot
}

// fetchTree asks s for its tree on the kept connection and, when it is
// good, starts checking chunks with it. keep says whether the connection
// can serve more requests.
func (d *download) fetchTree(conn net.Conn, br *bufio.Reader, s *srcState) (keep bool) {
	d.mu.Lock()
	s.thexTried = true
	path, root := s.thexPath, d.tth
	if root.IsZero() {
		root = s.thexRoot
	}
	d.mu.Unlock()
	b := append([]byte("GET "), path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if s.src.Addr.IsValid() {
		b = s.src.Addr.AppendTo(b)
	}
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, d.m.cfg.UserAgent...)
	b = append(b, "\r\nAccept: application/dime\r\n\r\n"...)
	_ = conn.SetDeadline(time.Now().Add(d.m.cfg.StallTimeout))
	if _, err := conn.Write(b); err != nil {
		return false
	}
	resp, err := readResponse(br)
	if err != nil {
		return false
	}
	n := int64(-1)
	if v := resp.header.Get("Content-Length"); v != "" {
		if n, err = parseUint(v); err != nil {
			return false
		}
	}
	keep = resp.keepAlive()
	if resp.code != 200 {
		return drain(br, n, keep) == nil && keep
	}
	if n < 0 || n > maxTreeBody {
		d.log.Debug("thex: tree answer of unknown or excessive length", "source", s.src.key(), "length", n)
		return false
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return false
	}
	t, _, err := thex.DecodeMessage(body, d.size, thex.Hash(root))
	if err != nil {
		d.log.Info("download: a source's Tiger tree is bad, not used", "source", s.src.key(), "err", err)
		return keep
	}
	d.useTree(t, protocol.TTH(root))
	return keep
}

// useTree starts checking with t, and checks the chunks already in.
func (d *download) useTree(t *thex.Tree, root protocol.TTH) {
	d.mu.Lock()
	if d.tree != nil {
		d.mu.Unlock()
		return
	}
	d.tree, d.tth = t, root
	d.spanOK = make([]bool, len(t.Bottom()))
	d.mu.Unlock()
	d.log.Debug("download: checking chunks against the Tiger tree", "depth", t.Depth, "span", t.SpanSize())
	for j := range t.Bottom() {
		d.checkSpanFromDisk(j)
	}
}

// spansOf lists the bottom-row spans [first, last] that overlap chunk c.
func (d *download) spansOf(c int) (first, last int) { return d.spansIn(d.tree, c) }

// spansIn is spansOf for tree t.
func (d *download) spansIn(t *thex.Tree, c int) (first, last int) {
	s := t.SpanSize()
	off := int64(c) * d.chunkSize
	return int(off / s), int((off + d.chunkLen(c) - 1) / s)
}

// chunksOf lists the chunks [first, last] that a span overlaps.
func (d *download) chunksOf(j int) (first, last int) { return d.chunksIn(d.tree, j) }

// chunksIn is chunksOf for tree t.
func (d *download) chunksIn(t *thex.Tree, j int) (first, last int) {
	off, n := t.Span(j)
	return int(off / d.chunkSize), int((off + n - 1) / d.chunkSize)
}

// checkChunk checks a chunk that just arrived against tree t (nil: no
// tree yet), before it is written. Spans inside it are checked from data;
// a span that reaches into other chunks is left to checkSpanFromDisk once
// they are all in. It needs no lock (t is never changed): complete calls
// it before taking d.mu, so Tiger over a chunk holds up no other fetcher.
// false: data is corrupt.
func (d *download) checkChunk(t *thex.Tree, c int, data []byte) bool {
	if t == nil {
		return true
	}
	start := int64(c) * d.chunkSize
	first, last := d.spansIn(t, c)
	for j := first; j <= last; j++ {
		off, n := t.Span(j)
		if off < start || off+n > start+int64(len(data)) {
			continue
		}
		if !t.VerifySpan(j, data[off-start:off-start+n]) {
			return false
		}
	}
	return true
}

// markChunkSpansLocked records the spans inside chunk c as checked, once
// its bytes are on disk.
func (d *download) markChunkSpansLocked(c int) {
	if d.tree == nil {
		return
	}
	start, end := int64(c)*d.chunkSize, int64(c)*d.chunkSize+d.chunkLen(c)
	first, last := d.spansOf(c)
	for j := first; j <= last; j++ {
		if off, n := d.tree.Span(j); off >= start && off+n <= end {
			d.spanOK[j] = true
			d.sharingLocked()
		}
	}
}

// sharingLocked notes that the download holds checked bytes: the first
// time, the node is told it has a partial to share.
func (d *download) sharingLocked() {
	if !d.sharing {
		d.sharing = true
		d.m.sharing.Add(1)
		if f := d.m.cfg.PartialsChanged; f != nil {
			f()
		}
	}
}

// unshareLocked ends what sharingLocked began: the node is told the
// download is no partial to share any more.
func (d *download) unshareLocked() {
	if d.sharing {
		d.sharing = false
		d.m.sharing.Add(-1)
		if f := d.m.cfg.PartialsChanged; f != nil {
			f()
		}
	}
}

// checkSpansAfter checks, from disk, the spans of chunk c that reach into
// other chunks, once all of their chunks are in.
func (d *download) checkSpansAfter(c int) {
	d.mu.Lock()
	if d.tree == nil {
		d.mu.Unlock()
		return
	}
	first, last := d.spansOf(c)
	var todo []int
	for j := first; j <= last; j++ {
		if a, b := d.chunksOf(j); a != b {
			todo = append(todo, j)
		}
	}
	d.mu.Unlock()
	for _, j := range todo {
		d.checkSpanFromDisk(j)
	}
}

// checkSpanFromDisk checks span j when all its chunks are in; a failure
// puts them back to be fetched again and gives their sources a strike
// (one source alone: banned at once).
func (d *download) checkSpanFromDisk(j int) {
	d.mu.Lock()
	t, f := d.tree, d.file
	if t == nil { // dropped (blame) since the caller looked
		d.mu.Unlock()
		return
	}
	a, b := d.chunksIn(t, j)
	for c := a; c <= b; c++ {
		if !d.chunks[c].done {
			d.mu.Unlock()
			return
		}
	}
	d.mu.Unlock()
	if f == nil {
		return
	}
	// A span's node is the tree root of its bytes; streamed, since a span
	// of a huge file is large (file size / 2048).
	off, n := t.Span(j)
	h := thex.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, off, n), make([]byte, min(n, 1<<20))); err != nil {
		return // the final SHA-1 check reads it again and decides
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tree != t {
		return // dropped while we read: it judges nothing now
	}
	if h.Len() == n && h.Root() == t.Bottom()[j] {
		d.spanOK[j] = true
		d.sharingLocked()
		return
	}
	owners := map[string]bool{}
	for c := a; c <= b; c++ {
		ch := &d.chunks[c]
		if !ch.done {
			continue // already put back
		}
		owners[ch.owner] = true
		ch.done = false
		d.unmarkChunkSpansLocked(c)
		d.doneN--
		d.doneB -= d.chunkLen(c)
		d.corrupt += d.chunkLen(c)
	}
	d.rehash = true // the hasher may have read the bad bytes
	for k := range owners {
		if d.strikes[k]++; len(owners) == 1 || d.strikes[k] >= treeStrikes {
			d.banned[k] = true
			d.setWhyLocked(k, "its data failed the Tiger tree check")
		}
	}
	d.log.Info("download: a span failed the Tiger tree check, fetching it again", "span", j, "sources", len(owners))
	d.poke() // never blocks: fine under the lock
}

// unmarkChunkSpansLocked forgets the checks of every span chunk c touches.
func (d *download) unmarkChunkSpansLocked(c int) {
	first, last := d.spansOf(c)
	for j := first; j <= last; j++ {
		d.spanOK[j] = false
	}
}

// errCorrupt wraps errBadSource for a chunk that failed the tree.
func errCorrupt(c int) error {
	return fmt.Errorf("%w: chunk %d failed the Tiger tree check", errBadSource, c)
}
