package main

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/magnet"
	"github.com/servent/servent/servent/api"
	"github.com/servent/servent/servent/transfer"
)

// magnetWait is how long a download from a magnet without a size or a
// source waits for a search by urn to find one.
const magnetWait = 15 * time.Second

// maxMagnetNames bounds the host names of a magnet resolved (5 s each).
const maxMagnetNames = 4

// startMagnet starts the download a magnet names: its sources at once,
// and a search by urn for more (their hits join the download as they
// come). Without a size (no xl) the search must find one first.
func (b nodeBackend) startMagnet(req api.DownloadRequest) (api.Download, error) {
	m, err := magnet.Parse(req.Magnet)
	if err != nil {
		return api.Download{}, api.Errorf(api.ErrInvalid, "%v", err)
	}
	if m.SHA1.IsZero() {
		return api.Download{}, api.Errorf(api.ErrInvalid, "the magnet names no urn:sha1 or urn:bitprint: servent verifies downloads by SHA-1")
	}
	if b.n.Downloads() == nil {
		return api.Download{}, api.Errorf(api.ErrInvalid, "downloads are not available in this servent")
	}
	srcs := magnetSources(m)
	s := b.n.Search("", []protocol.SHA1{m.SHA1}) // more sources, as hits come
	name, size := m.Name, m.Size
	deadline := time.Now().Add(magnetWait)
	for {
		n, sz, found := b.sourcesOf(m.SHA1)
		if name == "" {
			name = n
		}
		if size == 0 {
			size = int64(sz)
		}
		if size > 0 && len(srcs)+len(found) > 0 {
			srcs = append(srcs, found...)
			break
		}
		if time.Now().After(deadline) {
			s.Stop()
			if size == 0 {
				return api.Download{}, api.Errorf(api.ErrNoSource, "the magnet gives no size (xl) and no servent answered a search for %s within %s: try again later", m.SHA1.URN(), magnetWait)
			}
			return api.Download{}, api.Errorf(api.ErrNoSource, "the magnet lists no source we can use and no servent answered a search for %s within %s: try again later", m.SHA1.URN(), magnetWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if name == "" {
		name = m.SHA1.Base32()
	}
	info, err := b.n.Downloads().Start(m.SHA1, name, size, srcs)
	if err != nil {
		return api.Download{}, err
	}
	if m.HasTTH {
		b.n.Downloads().SetTTH(m.SHA1, m.TTH)
	}
	return toAPIDownload(info), nil
}

// magnetSources turns a magnet's xs and as into download sources: HTTP
// sources by address (a few host names resolved), push:// sources by
// servent GUID and push proxies.
func magnetSources(m magnet.Magnet) []transfer.Source {
	var out []transfer.Source
	names := 0
	for _, ms := range m.Sources {
		if ms.Push {
			out = append(out, transfer.Source{Push: true, ServentGUID: protocol.GUID(ms.GUID), Proxies: ms.Proxies})
			continue
		}
		if !ms.SHA1.IsZero() && ms.SHA1 != m.SHA1 {
			continue // a source for another file
		}
		addr := ms.Addr
		if !addr.IsValid() {
			if names++; names > maxMagnetNames {
				continue
			}
			ap, err := resolveHost(ms.Host + ":" + strconv.Itoa(int(ms.Port)))
			if err != nil {
				continue
			}
			addr = ap.Addr()
		}
		src := transfer.Source{Addr: netip.AddrPortFrom(addr.Unmap(), ms.Port)}
		// "/get/<index>/<name>": the source's own numbering.
		if rest, ok := strings.CutPrefix(ms.Path, "/get/"); ok {
			idx, fname, _ := strings.Cut(rest, "/")
			if i, err := strconv.ParseUint(idx, 10, 32); err == nil {
				src.Index, src.Name = uint32(i), fname
			}
		}
		out = append(out, src)
	}
	return out
}

// shareMagnet is the magnet of one of our shared files, as gtk-gnutella
// writes them: dn, xl, xt (a bitprint when the tree root is known) and
// one source, us (push:// with our proxies when we are firewalled).
func (b nodeBackend) shareMagnet(sha protocol.SHA1, tth protocol.TTH, name string, size int64) string {
	m := magnet.Magnet{SHA1: sha, Name: name, Size: size}
	if !tth.IsZero() {
		m.TTH, m.HasTTH = tth, true
	}
	addr, firewalled, proxies := b.n.Self()
	switch {
	case firewalled:
		m.Sources = []magnet.Source{{Push: true, GUID: b.n.GUID(), Proxies: proxies}}
	case addr.IsValid() && !addr.Addr().IsUnspecified():
		m.Sources = []magnet.Source{{Addr: addr.Addr(), Port: addr.Port(), SHA1: sha}}
	}
	return m.String()
}
