package servent

import (
	"bufio"
	"errors"
	"net"
	"net/netip"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/transfer"
	"github.com/servent/servent/sharedir"
)

// transferHooks holds the HTTP side of the node.
type transferHooks struct {
	uploader *transfer.Uploader
	manager  *transfer.Manager
}

// libFiles adapts the library to what the uploader reads.
type libFiles struct{ lib *sharedir.Library }

func toTransferFile(f sharedir.File) transfer.File {
	return transfer.File{Index: f.Index, Path: f.Path, Name: f.Name, Size: f.Size, ModTime: f.ModTime, SHA1: f.SHA1}
}

func (l libFiles) ByIndex(i uint32) (transfer.File, bool) {
	f, ok := l.lib.ByIndex(i)
	return toTransferFile(f), ok
}

func (l libFiles) BySHA1(s protocol.SHA1) (transfer.File, bool) {
	f, ok := l.lib.BySHA1(s)
	return toTransferFile(f), ok
}

func (n *Node) initTransfer() error {
	n.transfer.uploader = transfer.NewUploader(transfer.UploaderConfig{
		Files: libFiles{n.lib}, Now: n.cfg.Now, Logger: n.log, ServerName: n.cfg.UserAgent,
	})
	n.transfer.manager = &transfer.Manager{}
	return nil
}

func (n *Node) startTransfer() {}

func (n *Node) closeTransfer() {}

// Downloads is the download manager.
func (n *Node) Downloads() *transfer.Manager { return n.transfer.manager }

func (n *Node) serveHTTP(nc net.Conn, br *bufio.Reader) {
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

// pushed handles a Push addressed to us: connect back and serve the file.
func (n *Node) pushed(index uint32, addr netip.AddrPort) {
	if n.cfg.PushHandler != nil {
		n.cfg.PushHandler(index, addr)
		return
	}
	f, ok := n.lib.ByIndex(index)
	if !ok || !addr.IsValid() {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := transfer.ServeGIV(n.ctx, n.cfg.Dial, addr.String(), index, n.guid, f.Name, n.transfer.uploader); err != nil {
			n.log.Debug("push: connect back failed", "addr", addr, "err", err)
		}
	}()
}

// errNoPushRoute: no connection leads to the servent to push.
var errNoPushRoute = errors.New("servent: no route to the pushed servent")

// sendPush asks a firewalled source to connect back to us (GNUTELLA.md
// 4.4, 8.6): a Push toward its servent GUID, sent on the connection its
// QueryHit came from (the push table), or to every ultrapeer when we are a
// leaf and have no route.
func (n *Node) sendPush(src transfer.Source) error {
	self := n.advertised()
	if !self.IsValid() {
		self = netip.AddrPortFrom(n.addr.Addr(), n.addr.Port())
	}
	if !self.Addr().Is4() || self.Addr().IsUnspecified() {
		return errors.New("servent: push: our address is unknown")
	}
	p := &protocol.Push{ServentGUID: src.ServentGUID, Index: src.Index, IP: self.Addr(), Port: self.Port()}
	h := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePush, TTL: routing.PushTTL(0, n.cfg.MaxTTL)}
	b := protocol.AppendMessage(nil, h, p)
	n.routes.Add(h.GUID, protocol.TypePush, routing.Local)
	s := n.snap.Load()
	if id, ok := n.pushes.Lookup(src.ServentGUID); ok && id != routing.Local {
		if c := s.byID[id]; c != nil && c.send(b, true) {
			return nil
		}
	}
	if n.ultrapeer || len(s.ups) == 0 {
		return errNoPushRoute
	}
	for _, c := range s.ups {
		c.send(b, true)
	}
	return nil
}
