package transfer

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/servent/servent/internal/netscope"
	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
)

// The download mesh (GNUTELLA-TRANSFERS.md 26, gtk-gnutella's dmesh.c):
// what downloaders and uploaders tell each other about other sources of a
// file. X-Alt names direct sources, X-Falt firewalled ones with their
// push proxies, X-Nalt sources that failed. The uploader learns from the
// downloaders' requests and answers every later request for the file with
// what it knows; a retracted source is remembered as bad for a while so
// that it does not come straight back.

// Mesh bounds, per file and overall.
const (
	meshFiles      = 1024             // files remembered (least recently told about dropped first)
	meshPerFile    = 32               // direct and firewalled sources each, per file
	meshBadPerFile = 64               // retracted sources remembered, per file
	meshLifetime   = time.Hour        // a source not heard of again is forgotten
	meshBadFor     = 30 * time.Minute // a retracted source is refused this long
)

// Mesh remembers the other sources of files. Its methods take the time as
// an argument; safe for concurrent use.
type Mesh struct {
	files *lru.Cache[protocol.SHA1, *meshFile]
}

type meshFile struct {
	mu     sync.Mutex
	direct []heard[httphdr.Alt]
	fw     []heard[httphdr.Falt]
	bad    map[netip.AddrPort]time.Time
}

// heard is a source and when we last heard of it.
type heard[T any] struct {
	v    T
	seen time.Time
}

// hear records v (the entry same finds, else a new one; when full the
// stalest goes).
func hear[T any](s []heard[T], v T, same func(T) bool, now time.Time) []heard[T] {
	if i := slices.IndexFunc(s, func(x heard[T]) bool { return same(x.v) }); i >= 0 {
		s[i] = heard[T]{v, now}
		return s
	}
	if len(s) < meshPerFile {
		return append(s, heard[T]{v, now})
	}
	j := 0
	for i := range s {
		if s[i].seen.Before(s[j].seen) {
			j = i
		}
	}
	s[j] = heard[T]{v, now}
	return s
}

// freshest lists up to n of s that keep accepts, freshest first.
func freshest[T any](s []heard[T], n int, keep func(T) bool) []T {
	sorted := slices.Clone(s)
	slices.SortFunc(sorted, func(a, b heard[T]) int { return b.seen.Compare(a.seen) })
	var out []T
	for _, h := range sorted {
		if len(out) == n {
			break
		}
		if keep(h.v) {
			out = append(out, h.v)
		}
	}
	return out
}

func forget[T any](s []heard[T], now time.Time) []heard[T] {
	return slices.DeleteFunc(s, func(x heard[T]) bool { return now.Sub(x.seen) > meshLifetime })
}

// NewMesh returns an empty Mesh.
func NewMesh() *Mesh {
	c, _ := lru.New[protocol.SHA1, *meshFile](meshFiles) // size > 0: no error
	return &Mesh{files: c}
}

func (m *Mesh) file(sha protocol.SHA1, create bool) *meshFile {
	if f, ok := m.files.Get(sha); ok {
		return f
	}
	if !create {
		return nil
	}
	f := &meshFile{bad: map[netip.AddrPort]time.Time{}}
	if prev, ok, _ := m.files.PeekOrAdd(sha, f); ok {
		return prev
	}
	return f
}

// Add records direct and firewalled sources of sha told by from.
func (m *Mesh) Add(sha protocol.SHA1, from netip.Addr, alts []httphdr.Alt, falts []httphdr.Falt, now time.Time) {
	if len(alts) == 0 && len(falts) == 0 {
		return
	}
	m.with(sha, true, now, func(f *meshFile) { f.add(from, alts, falts, now) })
}

func (f *meshFile) add(from netip.Addr, alts []httphdr.Alt, falts []httphdr.Falt, now time.Time) {
	for _, a := range alts {
		a.Addr = netip.AddrPortFrom(a.Addr.Addr().Unmap(), a.Addr.Port())
		if !netscope.Listable(a.Addr, from) { // no bogons; a LAN's or a lab's own hosts from them only
			continue
		}
		if _, bad := f.bad[a.Addr]; bad {
			continue
		}
		f.direct = hear(f.direct, a, func(x httphdr.Alt) bool { return x.Addr == a.Addr }, now)
	}
	for _, fa := range falts {
		if fa.GUID == ([16]byte{}) || len(fa.Proxies) == 0 {
			continue // unreachable without a proxy
		}
		fa.Proxies = slices.Clone(fa.Proxies)
		f.fw = hear(f.fw, fa, func(x httphdr.Falt) bool { return x.GUID == fa.GUID }, now)
	}
}

// Remove retracts sources of sha (X-Nalt) and refuses them for a while.
func (m *Mesh) Remove(sha protocol.SHA1, nalts []httphdr.Alt, now time.Time) {
	if len(nalts) == 0 {
		return
	}
	m.with(sha, true, now, func(f *meshFile) { f.remove(nalts, now) })
}

func (f *meshFile) remove(nalts []httphdr.Alt, now time.Time) {
	for _, a := range nalts {
		ap := netip.AddrPortFrom(a.Addr.Addr().Unmap(), a.Addr.Port())
		f.direct = slices.DeleteFunc(f.direct, func(x heard[httphdr.Alt]) bool { return x.v.Addr == ap })
		if len(f.bad) >= meshBadPerFile {
			for k := range f.bad { // full: any one goes
				delete(f.bad, k)
				break
			}
		}
		f.bad[ap] = now
	}
}

// Alts lists up to n direct sources of sha, freshest first, leaving out
// except (the host asking knows itself).
func (m *Mesh) Alts(sha protocol.SHA1, except netip.Addr, n int, now time.Time) (out []httphdr.Alt) {
	m.with(sha, false, now, func(f *meshFile) {
		out = freshest(f.direct, n, func(a httphdr.Alt) bool { return a.Addr.Addr() != except })
	})
	return out
}

// Falts lists up to n firewalled sources of sha, freshest first.
func (m *Mesh) Falts(sha protocol.SHA1, n int, now time.Time) (out []httphdr.Falt) {
	m.with(sha, false, now, func(f *meshFile) {
		out = freshest(f.fw, n, func(httphdr.Falt) bool { return true })
	})
	return out
}

// Bad reports whether addr was retracted for sha lately.
func (m *Mesh) Bad(sha protocol.SHA1, addr netip.AddrPort, now time.Time) (bad bool) {
	m.with(sha, false, now, func(f *meshFile) {
		_, bad = f.bad[netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())]
	})
	return bad
}

// with runs fn on what the mesh holds for sha, up to date: nothing when
// it holds nothing, unless create.
func (m *Mesh) with(sha protocol.SHA1, create bool, now time.Time, fn func(f *meshFile)) {
	f := m.file(sha, create)
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(now)
	fn(f)
}

func (f *meshFile) expire(now time.Time) {
	f.direct = forget(f.direct, now)
	f.fw = forget(f.fw, now)
	for k, t := range f.bad {
		if now.Sub(t) > meshBadFor {
			delete(f.bad, k)
		}
	}
}

// readFeatures reads what a request's X-Features says of the sources it
// takes: fwalt (X-Falt), and IP/6.x (IPv6 sources; IP/6.4 only those), as
// gtk-gnutella's uploads.c reads it; without it, IPv4 sources only.
func (c *upConn) readFeatures(req *request) {
	features := req.header.Get("X-Features")
	c.fwalt = httphdr.HasFeature(features, "fwalt")
	c.alt4, c.alt6 = true, false
	if major, minor, ok := httphdr.Feature(features, "IP"); ok && major == 6 {
		c.alt4, c.alt6 = minor != 4, true
	}
}

// learnMesh takes the sources a downloader tells about in its request:
// X-Alt (and the old alternate-location forms) and X-Nalt. X-Falt in a
// request is ignored, as gtk-gnutella does (interop 58).
func (c *upConn) learnMesh(req *request, f File) {
	m := c.u.cfg.Mesh
	if m == nil || f.SHA1.IsZero() {
		return
	}
	now := c.u.cfg.Now()
	if v := req.header.Get("X-Nalt"); v != "" {
		nalts, _ := httphdr.ParseAlt(v, maxAltLocs)
		m.Remove(f.SHA1, nalts, now)
	}
	var alts []httphdr.Alt
	if v := req.header.Get("X-Alt"); v != "" {
		alts, _ = httphdr.ParseAlt(v, maxAltLocs)
	}
	for _, name := range []string{"X-Gnutella-Alternate-Location", "Alt-Location", "Alternate-Location"} {
		if v := req.header.Get(name); v != "" {
			locs, _ := httphdr.ParseAltLocations(v, maxAltLocs)
			for _, l := range locs {
				if l.SHA1 == f.SHA1 {
					alts = append(alts, httphdr.Alt{Addr: l.Addr})
				}
			}
		}
	}
	m.Add(f.SHA1, c.ip, alts, nil, now)
}

// meshHeaders appends X-Alt (the downloads' direct sources and the mesh)
// and, to a requester that reads them, X-Falt (firewalled sources).
func (c *upConn) meshHeaders(b []byte, f File) []byte {
	now := c.u.cfg.Now()
	var alts []httphdr.Alt
	seen := map[netip.AddrPort]bool{}
	add := func(a httphdr.Alt) {
		if is4 := a.Addr.Addr().Unmap().Is4(); (is4 && !c.alt4) || (!is4 && !c.alt6) {
			return
		}
		if len(alts) < maxAltLocs && a.Addr.IsValid() && a.Addr.Addr().Unmap() != c.ip && !seen[a.Addr] {
			seen[a.Addr] = true
			alts = append(alts, a)
		}
	}
	if c.u.cfg.AltLocs != nil {
		for _, a := range c.u.cfg.AltLocs(f.SHA1) {
			if c.u.cfg.Mesh == nil || !c.u.cfg.Mesh.Bad(f.SHA1, a, now) {
				add(httphdr.Alt{Addr: a})
			}
		}
	}
	if m := c.u.cfg.Mesh; m != nil {
		for _, a := range m.Alts(f.SHA1, c.ip, maxAltLocs, now) {
			add(a)
		}
	}
	if len(alts) > 0 {
		b = append(b, "X-Alt: "...)
		b = httphdr.AppendAlt(b, alts)
		b = append(b, "\r\n"...)
	}
	if !c.fwalt {
		return b
	}
	var falts []httphdr.Falt
	if c.u.cfg.FaltLocs != nil {
		falts = c.u.cfg.FaltLocs(f.SHA1)
	}
	if m := c.u.cfg.Mesh; m != nil {
		falts = append(falts, m.Falts(f.SHA1, maxAltLocs, now)...)
	}
	if len(falts) > 0 {
		b = append(b, "X-Falt: "...)
		b = httphdr.AppendFalt(b, falts[:min(len(falts), maxAltLocs)])
		b = append(b, "\r\n"...)
	}
	return b
}

// FaltLocs lists the firewalled sources of sha1's download that have push
// proxies (for the Uploader's X-Falt).
func (m *Manager) FaltLocs(sha1 protocol.SHA1) (out []httphdr.Falt) {
	m.eachGoodSource(sha1, func(src *Source) bool {
		if src.Push && !src.ServentGUID.IsZero() && len(src.Proxies) > 0 {
			f := httphdr.Falt{GUID: src.ServentGUID, Addr: src.Addr}
			for _, p := range src.Proxies {
				f.Proxies = append(f.Proxies, httphdr.Alt{Addr: p})
			}
			out = append(out, f)
		}
		return len(out) < maxAltLocs
	})
	return out
}

// eachGoodSource calls fn for the sources of sha1's download that are
// neither dead nor banned, in the order they came, while fn says go on.
func (m *Manager) eachGoodSource(sha1 protocol.SHA1, fn func(src *Source) bool) {
	d := m.download(sha1)
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range d.srcOrder {
		if s := d.sources[k]; !s.dead && !d.banned[k] && !fn(&s.src) {
			return
		}
	}
}

// readMesh takes the sources a server tells about: X-Alt and X-Falt join
// the download (known ones are not revived: only a fresh hit does that),
// X-Nalt drops the ones it retracts unless they are serving us now.
func (d *download) readMesh(h headers) {
	var srcs []Source
	if v := h.Get("X-Alt"); v != "" {
		alts, _ := httphdr.ParseAlt(v, maxAltLocs)
		for _, a := range alts {
			srcs = append(srcs, Source{Addr: a.Addr})
		}
	}
	if v := h.Get("X-Falt"); v != "" {
		falts, _ := httphdr.ParseFalt(v, maxAltLocs)
		for _, f := range falts {
			src := Source{Push: true, ServentGUID: protocol.GUID(f.GUID), Addr: f.Addr}
			for _, p := range f.Proxies {
				src.Proxies = append(src.Proxies, p.Addr)
			}
			srcs = append(srcs, src)
		}
	}
	var nalts []httphdr.Alt
	if v := h.Get("X-Nalt"); v != "" {
		nalts, _ = httphdr.ParseAlt(v, maxAltLocs)
	}
	if len(srcs) == 0 && len(nalts) == 0 {
		return
	}
	d.mu.Lock()
	n := 0
	for _, s := range srcs {
		if _, known := d.sources[s.key()]; !known && d.addSourceLocked(s) {
			n++
		}
	}
	for _, a := range nalts {
		if s, ok := d.sources[Source{Addr: a.Addr}.key()]; ok && !s.running && !s.dead {
			s.dead, s.why = true, "retracted by another source (X-Nalt)"
		}
	}
	if n > 0 && d.state == StateStalled {
		d.state, d.err = StateActive, ""
	}
	d.mu.Unlock()
	if n > 0 {
		d.poke()
	}
}

// appendMesh appends to a request what we know of the file's other
// sources: X-Alt (good direct sources), X-Nalt (sources that failed or
// served a bad copy), and fwalt in X-Features (we read X-Falt).
func (d *download) appendMesh(b []byte, except string) []byte {
	d.mu.Lock()
	var alts, nalts []httphdr.Alt
	// Holding checked bytes, we are a source too (PFSP): gtk-gnutella's
	// downloader lists itself the same way.
	if slices.Contains(d.spanOK, true) && d.m.cfg.CallbackAddr != nil {
		if self := d.m.cfg.CallbackAddr(); self.IsValid() {
			alts = append(alts, httphdr.Alt{Addr: self})
		}
	}
	for _, k := range d.srcOrder {
		s := d.sources[k]
		if k == except || s.src.Push || !s.src.Addr.IsValid() {
			continue
		}
		switch {
		case s.dead || d.banned[k]:
			if len(nalts) < maxAltLocs {
				nalts = append(nalts, httphdr.Alt{Addr: s.src.Addr})
			}
		case len(alts) < maxAltLocs:
			alts = append(alts, httphdr.Alt{Addr: s.src.Addr})
		}
	}
	d.mu.Unlock()
	b = append(b, "\r\nX-Features: fwalt/0.1"...)
	if f := d.m.cfg.Features; f != "" {
		b = append(b, ", "...)
		b = append(b, f...)
	}
	if len(alts) > 0 {
		b = append(b, "\r\nX-Alt: "...)
		b = httphdr.AppendAlt(b, alts)
	}
	if len(nalts) > 0 {
		b = append(b, "\r\nX-Nalt: "...)
		b = httphdr.AppendNalt(b, nalts)
	}
	return b
}
