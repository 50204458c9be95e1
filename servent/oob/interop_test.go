package oob

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/servent/servent/protocol"
	"github.com/stretchr/testify/require"
)

// The gtk-gnutella UDP lab captures (testdata/interop/gtk-gnutella README,
// "UDP lab"): NN-name.udp-rx.bin / .udp-tx.bin, each datagram preceded by
// its 4-byte big-endian length.
const interopDir = "../../testdata/interop/gtk-gnutella"

func captured(t *testing.T, name, dir string) []protocol.Datagram {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(interopDir, name+".udp-"+dir+".bin"))
	require.NoError(t, err)
	var out []protocol.Datagram
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 4)
		n := int(binary.BigEndian.Uint32(b))
		require.LessOrEqual(t, 4+n, len(b))
		d, err := protocol.DecodeDatagram(b[4:4+n], false)
		require.NoError(t, err)
		out = append(out, d)
		b = b[4+n:]
	}
	return out
}

func vendorOf(t *testing.T, d protocol.Datagram) protocol.Vendor {
	t.Helper()
	var v protocol.Vendor
	require.NoError(t, v.Decode(d.Payload))
	return v
}

// TestReplayGTKGServer (35): gtk-gnutella's LIME/12v3 gets from our
// Searcher the LIME/11v3 the lab sent (want all, token), and its hit
// carrying that token is accepted; its repeat is not.
func TestReplayGTKGServer(t *testing.T) {
	rx, tx := captured(t, "35-oob-v3-server", "rx"), captured(t, "35-oob-v3-server", "tx")
	v := vendorOf(t, rx[0])
	rn, err := protocol.DecodeOOBReplyNumber(v.Version, v.Data)
	require.NoError(t, err)
	sent := vendorOf(t, tx[0])
	recorded, err := protocol.DecodeOOBReplyAck(sent.Version, sent.Data)
	require.NoError(t, err)

	gtkg := netip.MustParseAddrPort("127.0.0.1:6346")
	s := NewSearcher(func() []byte { return recorded.Token })
	g := rx[0].Header.GUID
	require.True(t, s.Add(g, protocol.OOBWantAll, t0))
	ack, ok := s.Reply(gtkg, g, rn, t0)
	require.True(t, ok)
	require.Equal(t, uint16(3), ack.Version)
	require.Equal(t, recorded.Token, ack.Token)
	require.Equal(t, uint8(rn.Hits), ack.Wanted, "the hits announced, all still wanted")

	var hit protocol.QueryHit
	require.NoError(t, hit.Decode(rx[1].Payload))
	so, _ := hit.GGEP.Get("SO")
	require.True(t, s.Accept(gtkg, rx[1].Header.GUID, len(hit.Results), so, t0))
	require.False(t, s.Accept(gtkg, rx[1].Header.GUID, len(hit.Results), so, t0), "claim used")
}

// TestReplayGTKGQuerier (40): our Responder announces the 2 results as
// LIME/12v3 and, on gtk-gnutella's recorded LIME/11v3 (want 2, 4-byte
// token), hands out the hit with that token in its SO.
func TestReplayGTKGQuerier(t *testing.T) {
	rx, tx := captured(t, "40-gtkg-oob-querier", "rx"), captured(t, "40-gtkg-oob-querier", "tx")
	sentNum := vendorOf(t, tx[0])
	want, err := protocol.DecodeOOBReplyNumber(sentNum.Version, sentNum.Data)
	require.NoError(t, err)
	var lab protocol.QueryHit
	require.NoError(t, lab.Decode(tx[1].Payload))

	gtkg := protocol.OOBAddr(rx[0].Header.GUID)
	r := NewResponder(noJitter)
	rn, ok := r.Hold(gtkg, rx[0].Header.GUID, []protocol.QueryHit{lab}, true, t0)
	require.True(t, ok)
	require.Equal(t, want.Version, rn.Version)
	require.Equal(t, want.Hits, rn.Hits)

	v := vendorOf(t, rx[0])
	ack, err := protocol.DecodeOOBReplyAck(v.Version, v.Data)
	require.NoError(t, err)
	d, ok := r.Ack(gtkg, rx[0].Header.GUID, ack, t0)
	require.True(t, ok)
	require.Len(t, d.Hit.Results, 2)
	so, _ := d.Hit.GGEP.Get("SO")
	require.Equal(t, []byte{0xf1, 0x4a, 0xee, 0x7c}, so)
}

// TestReplayNoAck (37): gtk-gnutella's LIME/12 for a query we no longer
// want is not acked.
func TestReplayNoAck(t *testing.T) {
	rx := captured(t, "37-oob-no-ack", "rx")
	v := vendorOf(t, rx[0])
	rn, err := protocol.DecodeOOBReplyNumber(v.Version, v.Data)
	require.NoError(t, err)
	s := NewSearcher(fixedToken)
	_, ok := s.Reply(netip.MustParseAddrPort("127.0.0.1:6346"), rx[0].Header.GUID, rn, t0)
	require.False(t, ok)
}
