package servent

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/servent/servent/internal/bufconn"
	"github.com/servent/servent/servent/tlsid"
)

// TLSMode says when the servent speaks TLS (issue 16): TLSPrefer (the
// default) accepts TLS and dials it to hosts known to speak it, falling
// back to plain when it fails, as gtk-gnutella does; TLSOn dials only
// TLS; TLSOff neither accepts nor dials it.
type TLSMode int

const (
	TLSPrefer TLSMode = iota
	TLSOn
	TLSOff
)

// ParseTLSMode reads "prefer", "on" or "off".
func ParseTLSMode(s string) (TLSMode, error) {
	switch s {
	case "prefer", "":
		return TLSPrefer, nil
	case "on":
		return TLSOn, nil
	case "off":
		return TLSOff, nil
	}
	return 0, fmt.Errorf("tls %q: want on, off or prefer", s)
}

// maxTLSHosts bounds the hosts remembered as speaking TLS.
const maxTLSHosts = 4096

// tlsState is what the node knows of TLS: its configurations and the
// hosts that said they speak it (X-Features tls in a handshake).
type tlsState struct {
	mode   TLSMode
	server *tls.Config // nil when off
	client *tls.Config
	known  *lru.Cache[netip.AddrPort, struct{}]
}

func newTLSState(mode TLSMode, dataDir string) (*tlsState, error) {
	st := &tlsState{mode: mode}
	if mode == TLSOff {
		return st, nil
	}
	cert, err := tlsid.Load(dataDir)
	if err != nil {
		return nil, err
	}
	st.server, st.client = tlsid.Server(cert), tlsid.Client(cert)
	st.known, _ = lru.New[netip.AddrPort, struct{}](maxTLSHosts) // size > 0: no error
	return st, nil
}

// tlsKey is how known holds an address (an IPv4-mapped one as IPv4).
func tlsKey(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// learn notes that the servent listening at ap speaks TLS.
func (s *tlsState) learn(ap netip.AddrPort) {
	if s.known != nil && ap.IsValid() {
		s.known.Add(tlsKey(ap), struct{}{})
	}
}

// wants reports whether a dial to ap starts TLS.
func (s *tlsState) wants(ap netip.AddrPort) bool {
	switch s.mode {
	case TLSOn:
		return true
	case TLSPrefer:
		return s.known.Contains(tlsKey(ap))
	}
	return false
}

// dialTLS is the node's dialer for Gnet and HTTP (downloads, GIV, browse,
// QUEUE calls): over TLS to a host known to speak it (always with --tls
// on), and in prefer mode again in plain when TLS fails (the host is
// then forgotten as speaking TLS).
func (n *Node) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := n.cfg.Dial(ctx, network, addr)
	ap, perr := netip.ParseAddrPort(addr)
	if err != nil || perr != nil || !n.tls.wants(ap) {
		return nc, err
	}
	tc := tls.Client(nc, n.tls.client)
	if err := tc.HandshakeContext(ctx); err == nil {
		return tc, nil
	} else if n.tls.mode == TLSOn {
		nc.Close()
		return nil, fmt.Errorf("tls: %w", err)
	} else {
		nc.Close()
		n.tls.known.Remove(tlsKey(ap))
		n.log.Debug("TLS failed, dialling plain", "peer", ap, "err", err)
	}
	return n.cfg.Dial(ctx, network, addr)
}

// startTLS runs a TLS handshake on nc, read through br's read-ahead, as
// server (a connection that began with a ClientHello, or an agreed switch)
// or as client, under the deadline already on nc. The reader it returns
// reads the TLS stream.
func (n *Node) startTLS(nc net.Conn, br *bufio.Reader, server bool) (net.Conn, *bufio.Reader, error) {
	under := &bufconn.Conn{Conn: nc, R: br}
	tc := tls.Client(under, n.tls.client)
	if server {
		tc = tls.Server(under, n.tls.server)
	}
	if err := tc.HandshakeContext(n.ctx); err != nil {
		return nil, nil, err
	}
	if server {
		n.stats.tlsInbound.Add(1)
	}
	return tc, bufio.NewReaderSize(tc, 16<<10), nil
}

// isTLS reports whether nc is a TLS connection.
func isTLS(nc net.Conn) bool {
	for {
		switch c := nc.(type) {
		case *tls.Conn:
			return true
		case interface{ Unwrap() net.Conn }:
			nc = c.Unwrap()
		default:
			return false
		}
	}
}
