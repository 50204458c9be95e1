package protocol_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// Byte-for-byte replays of what real peers sent to our servent in the interop
// lab (gtk-gnutella 1.2.3 and GnutellaBun on loopback, 2026-11-25). Each
// testdata/interop-lab/*.rx-wire.bin file is one direction of one TCP
// connection as it was on the wire: the peer's handshake block(s), then its
// deflated descriptor stream, cut where the capture ended (so the zlib stream
// has no final block).

const labDir = "testdata/interop-lab"

// labStream is everything decoded from one capture.
type labStream struct {
	blocks []*protocol.Handshake
	msgs   []labMsg
}

type labMsg struct {
	h protocol.Header
	p []byte
}

// readLabStream reads nblocks handshake blocks, then the descriptor stream
// (inflated when the last block says Content-Encoding: deflate), and decodes
// every payload with its typed decoder.
func readLabStream(t *testing.T, name string, nblocks int) labStream {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(labDir, name))
	require.NoError(t, err)
	br := bufio.NewReader(bytes.NewReader(raw))
	var s labStream
	for range nblocks {
		hs, err := protocol.ReadHandshake(br)
		require.NoError(t, err, "%s: handshake block %d", name, len(s.blocks))
		s.blocks = append(s.blocks, hs)
	}
	last := s.blocks[len(s.blocks)-1]
	require.Equal(t, "deflate", last.Headers.Get("Content-Encoding"), name)
	d := protocol.NewDecoder(bufio.NewReader(protocol.NewInflateReader(br, 0)))
	for {
		h, p, err := d.Next()
		if err != nil {
			// The capture stops inside the zlib stream (no final block), at a
			// SYNC_FLUSH boundary: nothing is lost before that point.
			require.True(t, errors.Is(err, io.EOF) || errors.Is(err, protocol.ErrTruncated),
				"%s: after %d descriptors: %v", name, len(s.msgs), err)
			break
		}
		s.msgs = append(s.msgs, labMsg{h: h, p: bytes.Clone(p)})
		decodeTyped(t, name, h, p)
	}
	require.NotEmpty(t, s.msgs, name)
	return s
}

func decodeTyped(t *testing.T, name string, h protocol.Header, p []byte) {
	t.Helper()
	var err error
	switch h.Type {
	case protocol.TypePing:
		err = new(protocol.Ping).Decode(p)
	case protocol.TypePong:
		err = new(protocol.Pong).Decode(p)
	case protocol.TypeBye:
		err = new(protocol.Bye).Decode(p)
	case protocol.TypeQuery:
		err = new(protocol.Query).Decode(p)
	case protocol.TypeQueryHit:
		err = new(protocol.QueryHit).Decode(p)
	case protocol.TypeVendor, protocol.TypeStdVendor:
		err = new(protocol.Vendor).Decode(p)
	case protocol.TypeQRP:
		_, _, err = protocol.DecodeQRP(p)
	case protocol.TypePush:
		err = new(protocol.Push).Decode(p)
	default:
		t.Fatalf("%s: unexpected descriptor type %v", name, h.Type)
	}
	require.NoError(t, err, "%s: %v %x", name, h.Type, p)
}

func (s labStream) ofType(typ protocol.PayloadType) []labMsg {
	var out []labMsg
	for _, m := range s.msgs {
		if m.h.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// firstQRPTable feeds the QRP descriptors to a receiver and returns the first
// complete table.
func (s labStream) firstQRPTable(t *testing.T) (*protocol.QRPTable, *protocol.QRPReceiver) {
	t.Helper()
	var r protocol.QRPReceiver
	for _, m := range s.ofType(protocol.TypeQRP) {
		tab, err := r.HandlePayload(m.p)
		require.NoError(t, err)
		if tab != nil {
			return tab, &r
		}
	}
	t.Fatal("no complete QRP table")
	return nil, nil
}

func (s labStream) hits(t *testing.T) map[string]protocol.QueryHit {
	t.Helper()
	out := map[string]protocol.QueryHit{}
	for _, m := range s.ofType(protocol.TypeQueryHit) {
		var qh protocol.QueryHit
		require.NoError(t, qh.Decode(m.p))
		for _, r := range qh.Results {
			out[r.Name] = qh
		}
	}
	return out
}

func (s labStream) queries(t *testing.T) map[string]protocol.Query {
	t.Helper()
	out := map[string]protocol.Query{}
	for _, m := range s.ofType(protocol.TypeQuery) {
		var q protocol.Query
		require.NoError(t, q.Decode(m.p))
		key := q.Criteria
		if len(q.SHA1s) > 0 {
			key = q.SHA1s[0].URN()
		}
		out[key] = q
	}
	return out
}

func mustSHA1(t *testing.T, urn string) protocol.SHA1 {
	t.Helper()
	s, err := protocol.ParseSHA1URN(urn)
	require.NoError(t, err)
	return s
}

// gtk-gnutella's shared folder in the lab.
var gtkgShares = []struct {
	name  string
	size  uint64
	index uint32
	urn   string
}{
	{"alpha beta.txt", 41, 3, "urn:sha1:SHK5QEHXLGHTTETEVRZH4WW4KTKZM64C"},
	{"gamma delta.mp3", 3000, 1, "urn:sha1:WRXDZNEUAEMDOJCEQQKJXJ2RDNOF5RCV"},
	{"epsilon zeta.txt", 47, 2, "urn:sha1:YQIRDTI464CRSSKUEBD6W6XKBJ4AFEIL"},
}

// A gtk-gnutella ultrapeer's stream to our ultrapeer (we dialled): its QRP
// table first, vendor messages, GGEP pongs, TTL4 pings with GGEP SCP,
// dynamic queries (flags 0xb900: mark, XML, leaf-guided, GGEP H, with an
// empty GGEP H-understood block), a forwarded urn query, and a QueryHit for
// our "gamma delta" search with the SHA1 in GGEP H.
func TestInteropLabGTKGUltrapeerToOurUltrapeer(t *testing.T) {
	s := readLabStream(t, "gtkg-up-to-our-up.rx-wire.bin", 1)
	hs := s.blocks[0]
	require.Equal(t, 200, hs.Code)
	require.Equal(t, "gtk-gnutella/1.2.3 (2024-03-03; Topless; Linux x86_64)", hs.Headers.Get("User-Agent"))
	require.True(t, hs.Headers.Bool("X-Ultrapeer"))
	require.Equal(t, "0.1", hs.Headers.Get("X-Ultrapeer-Query-Routing"))

	// The QRP table comes before anything else, even the vendor messages.
	require.Equal(t, protocol.TypeQRP, s.msgs[0].h.Type)
	tab, _ := s.firstQRPTable(t)
	require.Equal(t, 16384, tab.Len())
	for _, w := range []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta"} {
		require.True(t, tab.HasWord(w), w)
	}
	require.False(t, tab.HasWord("omicron"))

	// Messages Supported, all-zero GUID, TTL 1.
	vs := s.ofType(protocol.TypeVendor)
	require.GreaterOrEqual(t, len(vs), 2)
	var v protocol.Vendor
	require.NoError(t, v.Decode(vs[0].p))
	require.Equal(t, protocol.GUID{}, vs[0].h.GUID)
	ms, err := protocol.DecodeMessagesSupported(v.Data)
	require.NoError(t, err)
	require.Len(t, ms.Entries, 27)

	qs := s.queries(t)
	for _, words := range []string{"lambda", "kappa", "omicron", "rho tau"} {
		q, ok := qs[words]
		require.True(t, ok, words)
		require.Equal(t, protocol.QueryFlags(0xb900), q.Flags, words)
	}
	urn := mustSHA1(t, "urn:sha1:R2JZBI643DD4OU62BNNQQUKHJLCZEO3P")
	q, ok := qs[urn.URN()]
	require.True(t, ok, "gtk-gnutella urn query")
	require.Empty(t, q.Criteria)

	h, ok := s.hits(t)["gamma delta.mp3"]
	require.True(t, ok)
	require.Equal(t, [4]byte{'G', 'T', 'K', 'G'}, h.Vendor)
	require.Equal(t, uint16(6346), h.Port)
	require.Equal(t, uint64(3000), h.Results[0].Size)
	require.Equal(t, uint32(1), h.Results[0].Index)
	require.Equal(t, mustSHA1(t, "urn:sha1:WRXDZNEUAEMDOJCEQQKJXJ2RDNOF5RCV"), h.Results[0].SHA1)
	require.False(t, h.Push)

	for _, m := range s.ofType(protocol.TypePing) {
		require.Equal(t, uint8(4), m.h.TTL)
		var p protocol.Ping
		require.NoError(t, p.Decode(m.p))
	}
}

// A gtk-gnutella ultrapeer's stream to our leaf: hits for our keyword
// searches (alpha, gamma delta) and our urn-only search, each with GGEP H.
func TestInteropLabGTKGUltrapeerToOurLeaf(t *testing.T) {
	s := readLabStream(t, "gtkg-up-to-our-leaf.rx-wire.bin", 1)
	require.Equal(t, 200, s.blocks[0].Code)
	require.Empty(t, s.ofType(protocol.TypeQRP), "an ultrapeer sends no QRP to a leaf")
	hits := s.hits(t)
	for _, f := range gtkgShares {
		h, ok := hits[f.name]
		require.True(t, ok, f.name)
		r := h.Results[0]
		require.Equal(t, f.size, r.Size, f.name)
		require.Equal(t, f.index, r.Index, f.name)
		require.Equal(t, mustSHA1(t, f.urn), r.SHA1, f.name)
	}
	for _, m := range s.ofType(protocol.TypeQueryHit) {
		require.Equal(t, uint8(6), m.h.TTL)
		require.Equal(t, uint8(0), m.h.Hops)
	}
}

// A gtk-gnutella leaf that our ultrapeer dialled: X-Ultrapeer: False, and
// (unlike the recorded lab in ../shared/interop, where it sent none) it sent
// its QRP table right away: 16384 slots, infinity 2, 4-bit entries.
func TestInteropLabGTKGLeafToOurUltrapeer(t *testing.T) {
	s := readLabStream(t, "gtkg-leaf-to-our-up.rx-wire.bin", 1)
	hs := s.blocks[0]
	require.Equal(t, 200, hs.Code)
	require.False(t, hs.Headers.Bool("X-Ultrapeer"))
	tab, r := s.firstQRPTable(t)
	require.Equal(t, uint8(2), r.Infinity())
	require.Equal(t, 16384, tab.Len())
	for _, f := range gtkgShares {
		for _, w := range protocol.Keywords(f.name) {
			require.True(t, tab.HasWord(w), w)
		}
	}
	h, ok := s.hits(t)["alpha beta.txt"]
	require.True(t, ok)
	require.Equal(t, mustSHA1(t, gtkgShares[0].urn), h.Results[0].SHA1)
	qs := s.queries(t)
	require.Contains(t, qs, "rho")
	require.Contains(t, qs, "kappa")
}

// A gtk-gnutella ultrapeer dialling our ultrapeer (`node add`): its CONNECT
// request, its minimal final ack, then its QRP table, pings, vendor messages,
// queries and a hit.
func TestInteropLabGTKGUltrapeerDialsUs(t *testing.T) {
	s := readLabStream(t, "gtkg-up-dials-our-up.rx-wire.bin", 2)
	req, ack := s.blocks[0], s.blocks[1]
	require.True(t, req.Connect)
	require.Equal(t, "0.6", req.Version)
	require.True(t, req.Headers.Bool("X-Ultrapeer"))
	require.Equal(t, "deflate", req.Headers.Get("Accept-Encoding"))
	require.False(t, req.Headers.Has("Upgrade"), "lab ran gtk-gnutella with TLS off (-T)")
	require.Equal(t, 200, ack.Code)
	require.Equal(t, protocol.TypeQRP, s.msgs[0].h.Type)
	tab, _ := s.firstQRPTable(t)
	require.Equal(t, 65536, tab.Len())
	qs := s.queries(t)
	require.Contains(t, qs, "rho tau")
	require.Contains(t, qs, mustSHA1(t, "urn:sha1:YQIRDTI464CRSSKUEBD6W6XKBJ4AFEIL").URN())
	h, ok := s.hits(t)["epsilon zeta.txt"]
	require.True(t, ok)
	require.Equal(t, uint64(47), h.Results[0].Size)
}

// A GnutellaBun ultrapeer's stream to our ultrapeer: 1-bit QRP (65536 slots,
// infinity 7) re-sent every 30 s, pongs without GGEP, queries with flags
// 0x8832 (mark, GGEP H, 50 hits), relayed pings and pongs.
func TestInteropLabBunUltrapeerToOurUltrapeer(t *testing.T) {
	s := readLabStream(t, "bun-up-to-our-up.rx-wire.bin", 1)
	hs := s.blocks[0]
	require.Equal(t, 200, hs.Code)
	require.Equal(t, "GnutellaBun/1.0.0", hs.Headers.Get("User-Agent"))
	tab, r := s.firstQRPTable(t)
	require.Equal(t, uint8(7), r.Infinity())
	require.Equal(t, 65536, tab.Len())
	for _, w := range []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta"} {
		require.True(t, tab.HasWord(w), w)
	}
	// Every later full re-send gives the same table.
	var rr protocol.QRPReceiver
	n := 0
	for _, m := range s.ofType(protocol.TypeQRP) {
		next, err := rr.HandlePayload(m.p)
		require.NoError(t, err)
		if next != nil {
			require.True(t, tab.Equal(next))
			n++
		}
	}
	require.Greater(t, n, 1)
	qs := s.queries(t)
	q, ok := qs["kappa"]
	require.True(t, ok)
	require.Equal(t, protocol.QueryFlags(0x8832), q.Flags)
	require.Equal(t, 50, q.Flags.MaxHits())
}
