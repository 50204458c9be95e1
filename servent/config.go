package servent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/natmap"
)

// Mode is the role a node plays in the two-tier network.
type Mode string

// Modes. ModeAuto starts as a leaf (GTKG's advice for a servent with little
// uptime or behind NAT, GNUTELLA.md 1) and becomes an ultrapeer once it is
// reachable and has been up for PromoteAfter (promote.go).
const (
	ModeLeaf      Mode = "leaf"
	ModeUltrapeer Mode = "ultrapeer"
	ModeAuto      Mode = "auto"
)

// Config configures a Node. Start from DefaultConfig; zero fields get the
// defaults in New.
type Config struct {
	// Listen is where we accept Gnutella and HTTP: "[::]:6346" takes both
	// IP families on one socket; a comma list names one address per
	// family ("192.0.2.1:6346,[2001:db8::1]:6346", one port). Ignored
	// when Listener is set.
	Listen   string
	Listener net.Listener // optional (tests, simulation)
	// Listener6 is a second listener beside Listener, in the other family
	// and on the same port (tests: [::1] beside 127.0.0.x).
	Listener6 net.Listener
	// NoIPv6 keeps to IPv4: no IPv6 listening, hosts, dials or addresses.
	NoIPv6 bool
	// Dial opens outgoing connections; default: a net.Dialer bound to the
	// listen IP when it is a specific address.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Now  func() time.Time // default time.Now

	ShareDir, DataDir, DownloadDir string

	Peers      []string // host:port the user named
	Mode       Mode
	MaxPeers   int  // ultrapeer links (UP) / ultrapeers (leaf)
	MaxLeaves  int  // leaves an ultrapeer accepts
	Firewalled bool // do not accept inbound Gnet/HTTP; serve by push (tests)
	// NoUDP runs without the UDP socket (GNUTELLA-UDP.md: pings, host
	// caches, GUESS, out-of-band hits, connect-back).
	NoUDP bool
	// NAT maps our port on the home router: natmap.ModeAuto, ModeUPnP,
	// ModeNATPMP; "" or ModeOff leaves the router alone (tests, library
	// users). The command line defaults to auto.
	NAT string
	// natGateway, natSSDP and natPMP point port mapping at fakes (tests).
	natGateway      netip.Addr
	natSSDP, natPMP netip.AddrPort
	Logger          *slog.Logger

	// PromoteAfter is the uptime after which a ModeAuto node that accepted
	// an inbound connection becomes an ultrapeer, default 10 min.
	PromoteAfter time.Duration

	// UHC and GWC are the host caches the user named: UDP host caches
	// (HOST:PORT) and GWebCaches (http URLs). They are asked for hosts
	// when the node has none to connect to, and saved in caches.txt.
	UHC, GWC []string

	// SpamLists and HostileLists are files in gtk-gnutella's spam.txt and
	// hostiles.txt formats, read at start beside DataDir's own spam.txt
	// and hostiles.txt (servent/hitfilter). Results they mark are dropped
	// from searches; hostile hosts are refused and never dialled.
	SpamLists, HostileLists []string

	// HTTPHandler gets inbound connections starting with "GET " or "HEAD ";
	// br holds the peeked bytes. It owns conn. Nil: the node's uploader.
	HTTPHandler func(conn net.Conn, br *bufio.Reader)
	// GIVHandler gets inbound "GIV " connections (answers to our pushes);
	// line is the GIV line. Nil: the node's download manager.
	GIVHandler func(conn net.Conn, br *bufio.Reader, line string)
	// PushHandler is called for a Push addressed to our servent GUID. Nil:
	// connect back with transfer.ServeGIV.
	PushHandler func(index uint32, addr netip.AddrPort)

	UserAgent string // default "servent/0.1.0"
	// HandshakeTimeout bounds a whole handshake (Gnet handshake, HTTP
	// request head or GIV line), fixed when the socket is accepted or
	// dialled and never extended, default 30 s. FirstByteTimeout bounds
	// the wait for an inbound socket's first bytes, default 10 s. (30 s is
	// the least gtk-gnutella allows for node_connecting_timeout and
	// incoming_connecting_timeout; 10 s its tcp_defer_accept_timeout.)
	HandshakeTimeout time.Duration
	FirstByteTimeout time.Duration
	KeepAlive        time.Duration // TTL-1 ping after this much silence, default 60 s
	IdleTimeout      time.Duration // close after this much silence, default 180 s
	WriteTimeout     time.Duration // one blocked write, default 60 s
	MaxConnsPerNet   int           // inbound sockets per IPv4 /24 or IPv6 /64, default 4
	MaxConns         int           // inbound sockets in total, default MaxPeers+MaxLeaves+32
	QueueBytes       int           // per-connection send queue, default 128 KiB
	BanDuration      time.Duration // how long a misbehaving peer is refused, default 10 min
	MaxTTL           uint8         // default 4 (GTKG max_ttl)
	// MaintainInterval is the period of connection maintenance and
	// keep-alive checks, default 1 s.
	MaintainInterval time.Duration

	// NoBrowse refuses "GET /" (browse host) with 403, as gtk-gnutella
	// does by default; servent allows it by default.
	NoBrowse bool

	// Caps are the bandwidth caps in bytes/s per bwlimit.Class (uploads,
	// downloads, Gnutella in, Gnutella out); 0: none. Node.Limits changes
	// them at run time.
	Caps [bwlimit.NumClasses]int64
	// UploadSlots is the number of uploads served at once; 0: 4.
	UploadSlots int

	// TLS says when we speak TLS (issue 16, tls.go): by default a
	// connection that starts with a TLS handshake is served over TLS like
	// any other (Gnet, HTTP, GIV, QUEUE) and hosts that said they speak it
	// are dialled over TLS. The certificate is made at first run and kept
	// in DataDir (servent/tlsid).
	TLS TLSMode

	// dqTimeScale multiplies dynamic querying's timings (tests run
	// them faster); 0: gtk-gnutella's.
	dqTimeScale float64
	// noDynamicQuery floods every query at once (the mesh tests check
	// flood routing: reach is then exactly the TTL's).
	noDynamicQuery bool

	// upMaxPeers is MaxPeers once an auto node is promoted: the ultrapeer
	// default when MaxPeers was left at zero.
	upMaxPeers int

	// noFloodLimits: no message budgets (load generators in benchmarks
	// that flood one link on purpose).
	noFloodLimits bool

	// fixedPeers: dial only Peers, never the host cache (tests that need
	// an exact topology).
	fixedPeers bool
	// noOOB: no out-of-band hits (tests of TCP hit routing).
	noOOB bool
}

// DefaultConfig returns the defaults; copy and modify it.
func DefaultConfig() Config {
	return Config{
		Listen:           "[::]:6346",
		Mode:             ModeLeaf,
		UserAgent:        "servent/0.1.0",
		HandshakeTimeout: 30 * time.Second,
		FirstByteTimeout: 10 * time.Second,
		KeepAlive:        60 * time.Second,
		IdleTimeout:      180 * time.Second,
		WriteTimeout:     60 * time.Second,
		MaxConnsPerNet:   4,
		QueueBytes:       128 << 10,
		BanDuration:      10 * time.Minute,
		MaxTTL:           4,
		MaintainInterval: time.Second,
		PromoteAfter:     10 * time.Minute,
	}
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	switch c.Mode {
	case ModeLeaf, ModeUltrapeer, ModeAuto:
	default:
		return fmt.Errorf("servent: mode %q: want leaf, ultrapeer or auto", c.Mode)
	}
	if c.NAT != "" && !natmap.ValidMode(c.NAT) {
		return fmt.Errorf("servent: nat %q: want auto, upnp, natpmp or off", c.NAT)
	}
	if c.Listener == nil && c.Listen != "" {
		if _, err := c.listenAddrs(); err != nil {
			return err
		}
	}
	if c.MaxPeers < 0 || c.MaxLeaves < 0 {
		return errors.New("servent: negative MaxPeers or MaxLeaves")
	}
	if c.QueueBytes != 0 && c.QueueBytes < 65535+23 {
		return fmt.Errorf("servent: QueueBytes %d below one maximum descriptor", c.QueueBytes)
	}
	if c.MaxTTL > 15 {
		return fmt.Errorf("servent: MaxTTL %d > 15", c.MaxTTL)
	}
	return c.checkCaches()
}

func (c *Config) fillDefaults() {
	d := DefaultConfig()
	if c.Mode == "" {
		c.Mode = d.Mode
	}
	if c.Listen == "" && c.Listener == nil {
		c.Listen = d.Listen
		if c.NoIPv6 {
			c.Listen = "0.0.0.0:6346"
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UserAgent == "" {
		c.UserAgent = d.UserAgent
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = d.KeepAlive
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.FirstByteTimeout <= 0 {
		c.FirstByteTimeout = d.FirstByteTimeout
	}
	if c.MaxConnsPerNet <= 0 {
		c.MaxConnsPerNet = d.MaxConnsPerNet
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.BanDuration <= 0 {
		c.BanDuration = d.BanDuration
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = d.MaxTTL
	}
	if c.MaintainInterval <= 0 {
		c.MaintainInterval = d.MaintainInterval
	}
	if c.PromoteAfter <= 0 {
		c.PromoteAfter = d.PromoteAfter
	}
	c.upMaxPeers = c.MaxPeers
	if c.MaxPeers == 0 {
		c.upMaxPeers = 32
		if c.Mode == ModeUltrapeer {
			c.MaxPeers = 32
		} else {
			c.MaxPeers = 3
		}
	}
	if c.MaxLeaves == 0 && (c.Mode == ModeUltrapeer || c.Mode == ModeAuto) {
		c.MaxLeaves = 64
	}
	if c.MaxConns <= 0 {
		c.MaxConns = c.MaxPeers + c.MaxLeaves + 32
		if c.Mode == ModeAuto {
			c.MaxConns = max(c.MaxPeers, c.upMaxPeers) + c.MaxLeaves + 32
		}
	}
}

// listenAddrs splits Listen: one or two addresses (one per family) on one
// port; a host name is resolved by net.Listen.
func (c *Config) listenAddrs() ([]string, error) {
	var out []string
	port := ""
	families := map[bool]bool{}
	for a := range strings.SplitSeq(c.Listen, ",") {
		a = strings.TrimSpace(a)
		host, p, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("servent: listen %q: %w", a, err)
		}
		if port != "" && p != port {
			return nil, fmt.Errorf("servent: listen %q: every address takes the same port", c.Listen)
		}
		port = p
		if ip, err := netip.ParseAddr(host); err == nil {
			v6 := ip.Unmap().Is6()
			if c.NoIPv6 && v6 {
				return nil, fmt.Errorf("servent: listen %q: an IPv6 address with IPv6 off", a)
			}
			if families[v6] || (v6 && ip.IsUnspecified() && len(out) > 0) {
				return nil, fmt.Errorf("servent: listen %q: one address per IP family", c.Listen)
			}
			families[v6] = true
		}
		out = append(out, a)
	}
	if len(out) > 2 {
		return nil, fmt.Errorf("servent: listen %q: one address per IP family", c.Listen)
	}
	return out, nil
}

// bindAddrs are the IPs we listen on, as far as known before listening.
func (c *Config) bindAddrs() []netip.Addr {
	var out []netip.Addr
	for _, ln := range []net.Listener{c.Listener, c.Listener6} {
		if ln != nil {
			if ta, ok := ln.Addr().(*net.TCPAddr); ok {
				out = append(out, ta.AddrPort().Addr().Unmap())
			}
		}
	}
	if c.Listener == nil {
		addrs, _ := c.listenAddrs()
		for _, a := range addrs {
			if ap, err := netip.ParseAddrPort(a); err == nil {
				out = append(out, ap.Addr().Unmap())
			}
		}
	}
	return out
}
