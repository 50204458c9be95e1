package servent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/transfer"
)

// transferHooks holds the HTTP side of the node.
type transferHooks struct {
	uploader *transfer.Uploader
	manager  *transfer.Manager
	// pushConnects counts the connect-backs in flight.
	pushConnects atomic.Int32
	// proxiedPushes counts pushes a source's push proxy took (202/203).
	proxiedPushes atomic.Uint64
	// partialsChanged wakes libraryLoop: a download began or stopped being
	// shared in part, the QRP table changes.
	partialsChanged chan struct{}
}

func (n *Node) initTransfer() error {
	n.transfer.partialsChanged = make(chan struct{}, 1)
	if n.cfg.DataDir != "" {
		dl := n.cfg.DownloadDir
		if dl == "" {
			dl = filepath.Join(n.cfg.DataDir, "complete")
		}
		m, err := transfer.Open(transfer.ManagerConfig{
			DataDir: filepath.Join(n.cfg.DataDir, "downloads"), DownloadDir: dl,
			Dial: n.dialTLS, SendPush: n.sendPush, UserAgent: n.cfg.UserAgent, Now: n.cfg.Now, Logger: n.log,
			Features: n.ipFeature(),
			Limiter:  n.limits.Get(bwlimit.Download), CallbackAddr: n.callbackAddr,
			PartialsChanged: func() {
				select {
				case n.transfer.partialsChanged <- struct{}{}:
				default:
				}
			},
		})
		if err != nil {
			return fmt.Errorf("servent: downloads: %w", err)
		}
		n.transfer.manager = m
	} else {
		n.transfer.manager = &transfer.Manager{} // no data folder: no downloads
	}
	var browse *transfer.BrowseConfig
	features := "fwalt/0.1, queue/1.1" // we send X-Falt to who reads it, and queue (PARQ)
	if f := n.ipFeature(); f != "" {
		features += ", " + f // the IPv6 alt-locs it may send us
	}
	if !n.cfg.NoBrowse {
		browse = &transfer.BrowseConfig{Hits: n.browseHits}
		features = "browse/1.0, " + features
	}
	n.transfer.uploader = transfer.NewUploader(transfer.UploaderConfig{
		Files: n.lib, AltLocs: n.transfer.manager.AltLocs, FaltLocs: n.transfer.manager.FaltLocs, Mesh: transfer.NewMesh(), Now: n.cfg.Now, Logger: n.log, ServerName: n.cfg.UserAgent,
		Browse: browse, Features: features,
		Limiter: n.limits.Get(bwlimit.Upload), MaxUploads: n.cfg.UploadSlots,
		CallbackDial: n.dialTLS, ListenAddr: n.ContactAddr,
		Partials: n.transfer.manager.Partial, Trees: n.treeOf,
	})
	return nil
}

// treeOf is the Tiger tree of a file we share, whole or partial.
func (n *Node) treeOf(sha protocol.SHA1) (*thex.Tree, bool) {
	if t, ok := n.lib.Tree(sha); ok {
		return t, true
	}
	return n.transfer.manager.Tree(sha)
}

// startTransfer runs the uploader's QUEUE callbacks.
func (n *Node) startTransfer() {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.transfer.uploader.RunCallbacks(n.ctx)
	}()
}

// Self is how others reach this servent: our address, and when we are
// firewalled the push proxies that take pushes for us (for magnets).
func (n *Node) Self() (addr netip.AddrPort, firewalled bool, proxies []netip.AddrPort) {
	if n.firewalled() {
		return n.ContactAddr(), true, n.pushProxies()
	}
	return n.ContactAddr(), false, nil
}

// ContactAddr is the address we tell others to reach us at.
func (n *Node) ContactAddr() netip.AddrPort {
	if a := n.advertised(); a.IsValid() {
		return a
	}
	return netip.AddrPortFrom(n.addr.Addr(), n.addr.Port())
}

// callbackAddr is our X-Node for the uploaders that queue us: none while
// we are firewalled (their QUEUE call could not reach us).
func (n *Node) callbackAddr() netip.AddrPort {
	if n.firewalled() {
		return netip.AddrPort{}
	}
	a := n.ContactAddr()
	if a.Addr().IsUnspecified() {
		return netip.AddrPort{}
	}
	return a
}

func (n *Node) closeTransfer() error { return n.transfer.manager.Close() }

// offerSources gives the sources in a QueryHit for one of our searches to
// the downloads of the same files: a stalled download resumes when a
// search finds its file again.
func (n *Node) offerSources(hit *protocol.QueryHit) {
	addr := hit.Addr()
	for i := range hit.Results {
		r := &hit.Results[i]
		if !r.SHA1.IsZero() {
			n.transfer.manager.AddSources(r.SHA1, transfer.Source{Addr: addr, Index: r.Index, Name: r.Name,
				ServentGUID: hit.ServentGUID, Push: hit.Push, Proxies: hitProxies(hit)})
			n.transfer.manager.SetTTH(r.SHA1, r.TTH)
		}
	}
}

// hitProxies are the push proxies a firewalled servent lists in its hit.
func hitProxies(hit *protocol.QueryHit) []netip.AddrPort {
	if !hit.Push {
		return nil
	}
	return hit.PushProxies()
}

// Downloads is the download manager.
func (n *Node) Downloads() *transfer.Manager { return n.transfer.manager }

func (n *Node) serveHTTP(nc net.Conn, br *bufio.Reader) {
	if isPushProxyRequest(br) {
		n.servePushProxy(nc, br)
		return
	}
	if n.cfg.HTTPHandler != nil {
		n.cfg.HTTPHandler(nc, br)
		return
	}
	n.transfer.uploader.ServeConn(n.ctx, nc, br)
}

func (n *Node) serveGIV(nc net.Conn, br *bufio.Reader, line string) {
	if n.cfg.GIVHandler != nil {
		n.cfg.GIVHandler(nc, br, line)
		return
	}
	n.transfer.manager.HandleGIV(nc, br, line)
}

// maxPushConnects bounds the connect-backs (GIV + upload) in flight: every
// Push to us names an address of the sender's choosing.
const maxPushConnects = 8

// pushDialTimeout bounds the connect of a connect-back.
const pushDialTimeout = 10 * time.Second

// pushed handles a Push addressed to us: connect back and serve the file.
// rudpPushIndex is the file index of GTKG's firewall-to-firewall pushes.
const rudpPushIndex = 0x7FFFFFFD

func (n *Node) pushed(index uint32, addr netip.AddrPort) {
	if n.hostile(addr.Addr()) {
		return // a hostile host gets no upload, pushed or not
	}
	if n.cfg.PushHandler != nil {
		n.cfg.PushHandler(index, addr)
		return
	}
	// gtk-gnutella pushes index 0 for a download by urn (its magnets) and
	// lets the GET that follows name the file, so an unknown index is
	// still answered, with GTKG's literal name "file". 0x7FFFFFFD asks
	// for a firewall-to-firewall (RUDP) transfer, which we do not do.
	if !addr.IsValid() || index == rudpPushIndex {
		return
	}
	name := "file"
	if f, ok := n.lib.ByIndex(index); ok {
		name = f.Name
	}
	if n.transfer.pushConnects.Add(1) > maxPushConnects {
		n.transfer.pushConnects.Add(-1)
		n.log.Debug("push: too many connect-backs, dropped", "addr", addr)
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.transfer.pushConnects.Add(-1)
		// The dial gets its own timeout: the default dialer has none and
		// the address is the Push sender's choice.
		dial := func(ctx context.Context, network, a string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, pushDialTimeout)
			defer cancel()
			return n.dialTLS(dctx, network, a)
		}
		if err := transfer.ServeGIV(n.ctx, dial, addr.String(), index, n.guid, name, n.transfer.uploader); err != nil {
			n.log.Debug("push: connect back failed", "addr", addr, "err", err)
		}
	}()
}

// errNoPushRoute: no connection leads to the servent to push.
var errNoPushRoute = errors.New("servent: no route to the pushed servent")

// sendPush asks a firewalled source to connect back to us (GNUTELLA.md
// 4.4, 8.6): through its push proxies over HTTP when its hit named some
// (push_proxied.go), else, or when none took it, a Push toward its servent
// GUID on the connection its QueryHit came from (the push table), or to
// every ultrapeer when we are a leaf and have no route.
func (n *Node) sendPush(src transfer.Source) error {
	self := n.ContactAddr()
	if !self.IsValid() || self.Addr().IsUnspecified() {
		return errors.New("servent: push: our address is unknown")
	}
	if len(src.Proxies) == 0 {
		return n.routePush(src, self)
	}
	proxyErr := n.pushViaProxies(src, self)
	if proxyErr == nil {
		return nil
	}
	n.log.Debug("push: no proxy took it, trying the Gnutella route", "guid", src.ServentGUID, "err", proxyErr)
	if err := n.routePush(src, self); err != nil {
		return fmt.Errorf("%w; and %w", proxyErr, err)
	}
	return nil
}

// routePush sends a Push for src over Gnutella.
func (n *Node) routePush(src transfer.Source, self netip.AddrPort) error {
	p := &protocol.Push{ServentGUID: src.ServentGUID, Index: src.Index}
	if n.tls.server != nil {
		p.GGEP = append(p.GGEP, protocol.Extension{ID: "TLS"}) // gtk-gnutella's order: TLS, 6
	}
	also := netip.Addr{}
	if self == n.advertised() {
		also = n.advertised6()
	}
	p.SetAddr(self, also)
	h := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePush, TTL: routing.PushTTL(0, n.cfg.MaxTTL)}
	b := protocol.AppendMessage(nil, h, p)
	n.routes.Add(h.GUID, protocol.TypePush, routing.Local)
	s := n.snap.Load()
	if id, ok := n.pushes.Lookup(src.ServentGUID); ok && id != routing.Local {
		if c := s.byID[id]; c != nil && c.send(b, true) {
			return nil
		}
	}
	if n.ultrapeer.Load() || len(s.ups) == 0 {
		return errNoPushRoute
	}
	for _, c := range s.ups {
		c.send(b, true)
	}
	return nil
}
