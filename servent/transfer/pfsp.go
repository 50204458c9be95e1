package transfer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
	"github.com/servent/servent/protocol/thex"
)

// Partial file sharing (PFSP, GNUTELLA-TRANSFERS.md 22): a download in
// progress is shared for the ranges that passed the Tiger tree, and only
// by SHA-1, as gtk-gnutella shares them. Without a tree nothing is shared
// before the whole file passed its SHA-1 (then it is a complete file).
// Unlike gtk-gnutella's default (pfsp_rare_server), a partial is served
// whether or not complete sources exist: serving verified bytes costs the
// swarm nothing.

// Partial is a download in progress that can be shared.
type Partial struct {
	SHA1    protocol.SHA1
	TTH     protocol.TTH
	Name    string
	Size    int64
	Ranges  httphdr.Ranges // the bytes that passed the Tiger tree
	ModTime time.Time      // the last time a chunk arrived
	path    string
}

// Partial returns what of sha's download can be shared: false when there
// is no such download running or no byte of it passed the tree yet.
func (m *Manager) Partial(sha protocol.SHA1) (Partial, bool) {
	d := m.download(sha)
	if d == nil {
		return Partial{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tree == nil || d.file == nil || d.state == StateComplete || d.verified {
		return Partial{}, false
	}
	var rs []httphdr.Range
	for j, ok := range d.spanOK {
		if ok {
			off, n := d.tree.Span(j)
			rs = append(rs, httphdr.Range{First: off, Last: off + n - 1})
		}
	}
	if len(rs) == 0 {
		return Partial{}, false
	}
	return Partial{SHA1: d.sha1, TTH: d.tth, Name: d.name, Size: d.size, Ranges: httphdr.NewRanges(d.size, rs...),
		ModTime: d.lastChunk, path: d.partPath}, true
}

// Tree is the Tiger tree a download of sha checks its chunks with, once
// it has one (a partial is served with it).
func (m *Manager) Tree(sha protocol.SHA1) (*thex.Tree, bool) {
	d := m.download(sha)
	if d == nil {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tree, d.tree != nil
}

// Sharing reports, cheaply, whether a download may have a partial to
// share: the node asks it for every query when its library is empty.
func (m *Manager) Sharing() bool { return m.sharing.Load() > 0 }

// Partials lists the downloads that can be shared now.
func (m *Manager) Partials() []Partial {
	m.mu.Lock()
	shas := make([]protocol.SHA1, 0, len(m.downloads))
	for s := range m.downloads {
		shas = append(shas, s)
	}
	m.mu.Unlock()
	var out []Partial
	for _, s := range shas {
		if p, ok := m.Partial(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// servePartial answers a request by SHA-1 for a file we are still
// downloading, as gtk-gnutella: a range inside what we hold gets 206 (cut
// to the run of held bytes it starts in), no Range the first held run,
// one starting in a hole 416 "Requested range not available yet" without
// Content-Range; X-Available-Ranges goes on 2xx and 416 when the
// connection stays open, X-Available on 503.
func (c *upConn) servePartial(req *request, p Partial) bool {
	keep := req.keepAlive()
	head := req.method == "HEAD"
	f := File{Name: p.Name, Size: p.Size, SHA1: p.SHA1, ModTime: p.ModTime}
	want := httphdr.Range{First: p.Ranges[0].First, Last: p.Ranges[0].Last}
	if v := req.header.Get("Range"); v != "" {
		r, ok, err := parseRange(v, p.Size)
		switch {
		case err != nil && !errors.Is(err, errUnsatisfiable):
			return c.writeStatus(400, "Malformed Range", false)
		case err == nil && ok:
			want = httphdr.Range{First: r.first, Last: r.last}
		}
		held, ok := p.Ranges.Next(want.First)
		if err != nil || !ok || held.First > want.First {
			b := c.startResponse(416, "Requested range not available yet", keep)
			b = c.fileHeaders(b, f)
			b = appendRanges(b, p, keep)
			b = append(b, "Content-Length: 0\r\n\r\n"...)
			return c.write(b) && keep
		}
		want.Last = min(want.Last, held.Last)
	}
	n := want.Last - want.First + 1
	if !head {
		c.partial = &p
		ok, _, keepConn := c.admit(req, f, n, keep)
		c.partial = nil
		if !ok {
			return keepConn
		}
	}
	var fh *os.File
	if !head {
		var err error
		if fh, err = os.Open(p.path); err != nil {
			return c.writeStatus(404, "Not Found", keep) && keep // finished and moved meanwhile
		}
		defer fh.Close()
	}
	b := c.startResponse(206, "Partial Content", keep)
	b = fmt.Appendf(b, "Content-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n", want.First, want.Last, p.Size, n)
	b = append(b, "Content-Type: application/octet-stream\r\n"...)
	b = c.fileHeaders(b, f)
	b = appendRanges(b, p, keep)
	b = append(b, "\r\n"...)
	if !c.write(b) {
		return false
	}
	if head {
		return keep
	}
	if err := c.sendBody(fh, want.First, n); err != nil {
		c.u.failed.Add(1)
		return false
	}
	c.u.served.Add(1)
	return keep
}

// appendRanges writes X-Available-Ranges, only when the connection stays
// open (gtk-gnutella's http.c).
func appendRanges(b []byte, p Partial, keep bool) []byte {
	if !keep {
		return b
	}
	b = append(b, "X-Available-Ranges: "...)
	b = httphdr.AppendAvailableRanges(b, p.Ranges)
	return append(b, "\r\n"...)
}

// availableHeader is X-Available for a 503 to a partial's requester.
func availableHeader(b []byte, p Partial) []byte {
	b = httphdr.AppendAvailable(append(b, "X-Available: "...), p.Ranges.Total())
	return append(b, "\r\n"...)
}

// partialFor finds the partial an N2R target names, if we share one.
func (c *upConn) partialFor(target string) (Partial, bool) {
	svc, urn, ok := uriRes(target)
	if !ok || !strings.EqualFold(svc, "N2R") {
		return Partial{}, false // only by SHA-1, as gtk-gnutella
	}
	sha, err := protocol.ParseSHA1URN(urn)
	if err != nil {
		return Partial{}, false
	}
	return c.sharedPartial(sha)
}

// sharedPartial is the partial of sha we share, if any.
func (c *upConn) sharedPartial(sha protocol.SHA1) (Partial, bool) {
	if c.u.cfg.Partials == nil {
		return Partial{}, false
	}
	return c.u.cfg.Partials(sha)
}

// partialRetry is how soon a partial source is asked again when it has
// nothing we need yet.
const partialRetry = 20 * time.Second

// noteRanges keeps a partial source's X-Available-Ranges.
func (d *download) noteRanges(s *srcState, v string) {
	if v == "" {
		return
	}
	rs, err := httphdr.ParseAvailableRanges(v, d.size)
	if err != nil {
		return
	}
	d.mu.Lock()
	s.avail, s.availAt = rs, time.Now()
	d.mu.Unlock()
}

// partialSource reports whether s told us it holds only part of the file.
func (d *download) partialSource(s *srcState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return s.avail != nil
}

// pickFrom reserves chunks for s: from a partial source only whole chunks
// inside the ranges it holds, as last said; after partialRetry the ranges
// are old and any chunk may be asked (a 416 or a shorter 206 with the
// new ranges answers).
func (d *download) pickFrom(s *srcState) (int, int) {
	d.mu.Lock()
	avail, fresh := s.avail, time.Since(s.availAt) < partialRetry
	run := s.maxRun
	if d.tree == nil && s.served == 0 {
		run = 1 // one chunk first: its answer may name the tree, fetched before the rest
	}
	d.mu.Unlock()
	if avail == nil || !fresh {
		return d.pick(s.src.key(), run)
	}
	return d.pickWithin(s.src.key(), run, avail)
}
