package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Vectors of GNUTELLA-UDP.md section 20, real datagrams captured from
// gtk-gnutella 1.2.3 (hex with spaces and line breaks removed).
func vec(s string) []byte {
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		panic(err)
	}
	return b
}

var (
	vecU1 = vec(`3fa288d1f9051331ff582d04ec9aaf00 00 01 00 00000000`)
	vecU2 = vec(`3fa288d1f9051331ff582d04ec9aaf00 01 01 00 2f000000 ca18 7f000001 04000000 08000000
		c3 0256434547544b4783 0347554541 02 0255504302ff32 024455416f 83544c5340`)
	vecU3 = vec(`cea73e53666df1fbff4973b384b41200 00 01 00 07000000 c3 83534350 41 01`)
	vecU4 = vec(`cea73e53666df1fbff4973b384b41200 01 01 00 46000000 ca18 7f000001 04000000 08000000
		c3 0256434547544b4783 0347554541 02 0255504302ff31 0244554171 03544c5340
		83495050 52 7f00002b5b1b 7f00002a5a1b 7f00001fff18`)
	vecU5 = vec(`5203fe463d7f69f9ff5b1cc7bdbef200 00 01 00 09000000 c3 83475545 43 02631b`)
	vecU6 = vec(`dad40e73cf742b31ff4fe8f51dbcde00 00 01 00 05000000 c3 82514b40`)
	vecU7 = vec(`dad40e73cf742b31ff4fe8f51dbcde00 01 01 00 37000000 ca18 7f000001 04000000 08000000
		c3 0256434547544b4783 0347554541 02 0255504302ff32 0244554172 03544c5340 82514b44 78b9f116`)
	vecU8 = vec(`08be7f2390de4627fff068b5da121b00 80 01 00 16000000 8000 616c70686100
		c3 02514b44 0c477348 8353435040`)
	vecU9 = vec(`08be7f2390de4627fff068b5da121b00 01 01 01 15000000 651b 7f000036 0b000000 00000000 c3 8347554541 02`)
	vecO1 = vec(`7f000027fbf9ddffff7f62922e8ab5ac 80 01 01 0d000000 8c00 616c70686100 c382534f40`)
	vecO2 = vec(`7f000027fbf9ddffff7f62922e8ab5ac 31 01 00 0a000000 4c494d45 0c00 0300 01 01`)
	vecO3 = vec(`7f000027fbf9ddffff7f62922e8ab5ac 31 09 00 16000000 4c494d45 0b00 0300 ff c382534f48 70cefefdacd3e9a0`)
	vecO5 = vec(`7f000028f5f26ea9ff22940b1496bfe5 31 01 00 0a000000 4c494d45 0c00 0200 01 01`)
	vecO6 = vec(`7f000028f5f26ea9ff22940b1496bfe5 31 09 00 09000000 4c494d45 0b00 0200 ff`)
	vecO7 = vec(`7f0000013102047f36a13fde5dca1847 31 09 00 12000000 4c494d45 0b00 0300 02 c382534f44 f14aee7c`)
	vecO9 = vec(`7f0000013509e1c9ffdd1a415bca1800 80 01 01 10000000 8d00 7a616e7a69626172 00 c382534f40`)
	vecC1 = vec(`258154f31b52ef00ffeebf6c45880200 31 01 00 0a000000 42454152 0700 0100 85b2`)
	vecC2 = vec(`ac29afa0aca41328ff881d9bf19be600 31 01 00 0a000000 47544b47 0700 0200 13b9`)
	vecC3 = vec(`619f1d88eda804d4ff688ae59c729d00 31 01 00 1a000000 47544b47 0700 0100 13b9
		ad5f952df24262bafffbcb44fbf02300`)
	vecC4 = vec(`ac29afa0aca41328ff881d9bf19be600 00 01 00 00000000`)
)

func mustDatagram(t testing.TB, b []byte) Datagram {
	t.Helper()
	d, err := DecodeDatagram(b, true)
	require.NoError(t, err)
	return d
}

func TestDecodeDatagramRules(t *testing.T) {
	withLen := func(b []byte, raw uint32) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[19:23], raw)
		return b
	}
	withType := func(b []byte, typ PayloadType) []byte {
		b = bytes.Clone(b)
		b[16] = byte(typ)
		return b
	}
	bigQuery := AppendMessage(nil, Header{Type: TypeQuery, TTL: 1}, &Query{Flags: FlagMark, Criteria: strings.Repeat("a", MaxQueryLen)})
	tests := []struct {
		name  string
		b     []byte
		guess bool
		err   error
	}{
		{"U1 ping", vecU1, false, nil},
		{"22 bytes", vecU1[:22], false, ErrTruncated},
		{"empty", nil, false, ErrTruncated},
		{"payload longer than announced", append(bytes.Clone(vecU1), 0), false, ErrMalformed},
		{"payload shorter than announced", vecU2[:len(vecU2)-1], false, ErrMalformed},
		{"length over 64 KiB without the mark", withLen(vecU1, 0x10000), false, ErrMalformed},
		{"marked length without flags", withLen(vecU1, sizeMarked), false, nil},
		{"marked length with unknown flags", withLen(vecU1, sizeMarked|0x10000), false, ErrMalformed},
		{"Bye", withType(vecU1, TypeBye), true, ErrNotOverUDP},
		{"QRP", withType(vecU1, TypeQRP), true, ErrNotOverUDP},
		{"RUDP (not implemented)", withType(vecU1, 0x41), true, ErrNotOverUDP},
		{"U8 query to a GUESS server", vecU8, true, nil},
		{"U8 query to a leaf", vecU8, false, ErrNotOverUDP},
		{"query over 1024 bytes", bigQuery, true, ErrTooLarge},
		{"push", withType(AppendMessage(nil, Header{TTL: 1}, &Push{IP: netip.MustParseAddr("1.2.3.4")}), TypePush), false, nil},
		{"std vendor", withType(vecC2, TypeStdVendor), false, nil},
		{"deflated, corrupt stream", append(withLen(withTTL(vecU1, 0x81), 2), 0x78, 0x00), false, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeDatagram(tt.b, tt.guess)
			if tt.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.err)
			}
		})
	}
}

func withTTL(b []byte, ttl byte) []byte {
	b = bytes.Clone(b)
	b[17] = ttl
	return b
}

// A deflated payload is inflated with the type's limit: a Query bomb stops
// at 1024 bytes.
func TestDecodeDatagramDeflate(t *testing.T) {
	q := Query{Flags: FlagMark, Criteria: strings.Repeat("alpha ", 100)}
	h := Header{GUID: NewGUID(), Type: TypeQuery, TTL: 1 | UDPCanInflate}
	plain := AppendMessage(nil, h, &q)
	z := AppendDatagram(nil, h, &q, true)
	require.Less(t, len(z), len(plain), "deflating a repetitive query pays")
	require.Equal(t, byte(1|UDPCanInflate|UDPDeflated), z[17])

	d := mustDatagram(t, z)
	require.True(t, d.Deflated)
	require.True(t, d.CanInflate)
	require.Equal(t, uint8(1), d.Header.TTL)
	require.Equal(t, plain[HeaderLen:], d.Payload)
	require.Equal(t, uint32(len(plain)-HeaderLen), d.Header.Length)

	// Not smaller: written plain.
	require.Equal(t, vecU1, AppendDatagram(nil, Header{GUID: GUID(vecU1[:16]), Type: TypePing, TTL: 1}, nil, true))
	u2 := mustDatagram(t, vecU2)
	var p Pong
	require.NoError(t, p.Decode(u2.Payload))
	require.Equal(t, vecU2, AppendDatagram(nil, u2.Header, &p, true), "a 47-byte pong does not shrink")

	bomb := Query{Flags: FlagMark, Criteria: strings.Repeat("a", 4*MaxQueryLen)}
	big := AppendDatagram(nil, Header{Type: TypeQuery, TTL: 1}, &bomb, true)
	require.Less(t, len(big), MaxQueryLen, "compressed it passes the size check")
	_, err := DecodeDatagram(big, true)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestPingRequestVectors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want PingRequest
	}{
		{"U1 plain ping", vecU1, PingRequest{}},
		{"U3 SCP 01", vecU3, PingRequest{UHC: true, SCP: SCPUltrapeers}},
		{"U5 GUESS introduction", vecU5, PingRequest{GUESSHosts: true, GUESSIntro: 7011}},
		{"U6 query key request", vecU6, PingRequest{QueryKey: true}},
		{"C4 connect-back ping", vecC4, PingRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDatagram(t, tt.b)
			require.Equal(t, TypePing, d.Header.Type)
			var p Ping
			require.NoError(t, p.Decode(d.Payload))
			r := ParsePingRequest(p.GGEP)
			require.Equal(t, tt.want, r)
			// Our encoder writes the same bytes as GTKG's prober.
			p2 := Ping{GGEP: r.GGEP()}
			require.Equal(t, tt.b, AppendMessage(nil, d.Header, &p2))
		})
	}
}

func TestPongInfoVectors(t *testing.T) {
	gtkg := PongInfo{HasVC: true, Vendor: VendorGTKG, VendorVersion: 0x83, GUESS: GUESSVersion,
		Ultrapeer: true, UPVersion: 2, FreeLeafSlots: 255, FreeUPSlots: 50, HasDU: true, TLS: true}
	u2 := gtkg
	u2.DailyUptime = 111
	u4 := gtkg
	u4.FreeUPSlots, u4.DailyUptime = 49, 113
	u4.Hosts = []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.43:7003"),
		netip.MustParseAddrPort("127.0.0.42:7002"),
		netip.MustParseAddrPort("127.0.0.31:6399"),
	}
	u7 := gtkg
	u7.DailyUptime, u7.QueryKey = 114, []byte{0x78, 0xb9, 0xf1, 0x16}
	tests := []struct {
		name string
		b    []byte
		addr string
		want PongInfo
	}{
		{"U2 pong", vecU2, "127.0.0.1:6346", u2},
		{"U4 UHC pong with IPP", vecU4, "127.0.0.1:6346", u4},
		{"U7 pong with a query key", vecU7, "127.0.0.1:6346", u7},
		// GUESS acknowledgement: another host, files/kB uninitialised (15.2).
		{"U9 GUESS acknowledgement", vecU9, "127.0.0.54:7013", PongInfo{GUESS: GUESSVersion}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustDatagram(t, tt.b)
			var p Pong
			require.NoError(t, p.Decode(d.Payload))
			require.Equal(t, tt.addr, netip.AddrPortFrom(p.IP, p.Port).String())
			info, err := ParsePongInfo(p.GGEP)
			require.NoError(t, err)
			require.Equal(t, tt.want, info)
			p.GGEP = info.AppendGGEP(nil)
			require.Equal(t, tt.b, AppendMessage(nil, d.Header, &p))
		})
	}
}

func TestPongInfoRoundTripAll(t *testing.T) {
	in := PongInfo{
		IPv6: netip.MustParseAddr("2001:db8::7"), HasVC: true, Vendor: VendorSRVT, VendorVersion: 1,
		GUESS: GUESSVersion, Ultrapeer: true, UPVersion: 2, FreeLeafSlots: 3, FreeUPSlots: 4,
		Locale: []byte("fr_CA"), HasDU: true, DailyUptime: 86400, TLS: true, HasDHT: true, DHT: [3]byte{0, 1, 2},
		Hosts:    []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("6.7.8.9:65535")},
		HostsTLS: []byte{0x40},
		Hosts6:   []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:6346")},
		DHTHosts: []netip.AddrPort{netip.MustParseAddrPort("9.9.9.9:9")},
		Echoed:   netip.MustParseAddrPort("[2001:db8::2]:7"),
		QueryKey: []byte{1, 2, 3, 4},
	}
	require.False(t, in.HostTLS(0))
	require.True(t, in.HostTLS(1))
	require.False(t, in.HostTLS(9))
	g, _, err := ParseGGEP(in.AppendGGEP(nil).Append(nil))
	require.NoError(t, err)
	out, err := ParsePongInfo(g)
	require.NoError(t, err)
	require.Equal(t, in, out)
	require.True(t, g[slicesIndexID(g, "IPP6")].Deflate, "IPP6 goes deflated, as GTKG")
}

func slicesIndexID(g GGEP, id string) int {
	for i := range g {
		if g[i].ID == id {
			return i
		}
	}
	return -1
}

func TestPongInfoMalformedKeys(t *testing.T) {
	g := GGEP{
		{ID: "VC", Data: []byte("GTK")},
		{ID: "IPP", Data: []byte{1, 2, 3, 4, 5}},
		{ID: "IPP6", Data: make([]byte, 17)},
		{ID: "IP", Data: make([]byte, 7)},
		{ID: "QK", Data: make([]byte, MaxQueryKeyLen+1)},
		{ID: "DU", Data: make([]byte, 9)},
		{ID: "6", Data: make([]byte, 4)},
		{ID: "UP", Data: []byte{2}},
		{ID: "GUE"},
		{ID: "DHT", Data: []byte{1}},
		{ID: "TLS"}, // still read
		{ID: "ZZZ", Data: []byte("unknown, ignored")},
	}
	info, err := ParsePongInfo(g)
	require.ErrorIs(t, err, ErrMalformed)
	require.Equal(t, PongInfo{TLS: true}, info)
}

func TestIPP(t *testing.T) {
	hosts, err := ParseIPP(vec(`7f00002b5b1b`))
	require.NoError(t, err)
	require.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.43:7003")}, hosts)
	hosts, err = ParseIPP(nil)
	require.NoError(t, err)
	require.Nil(t, hosts)
	_, err = ParseIPP(make([]byte, 7))
	require.ErrorIs(t, err, ErrMalformed)
	// IPv6 hosts are left out of IPP, mapped IPv4 is written as IPv4.
	b := AppendIPP(nil, []netip.AddrPort{
		netip.MustParseAddrPort("[::ffff:1.2.3.4]:5"), netip.MustParseAddrPort("[2001:db8::1]:6"),
	})
	require.Equal(t, vec(`01020304 0500`), b)
	require.Equal(t, vec(`20010db8000000000000000000000001 0600`), AppendIPP6(nil, []netip.AddrPort{
		netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("[2001:db8::1]:6"),
	}))
}

func TestOOBAddrVectors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"O1 relayed OOB query", vecO1, "127.0.0.39:46474"},
		{"O7 gtk-gnutella's own query", vecO7, "127.0.0.1:6346"},
		{"O9 proxied leaf query", vecO9, "127.0.0.1:6346"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := GUID(tt.b[:16])
			require.Equal(t, tt.want, OOBAddr(g).String())
			again, ok := WithOOBAddr(g, OOBAddr(g))
			require.True(t, ok)
			require.Equal(t, g, again)
		})
	}
	// O9: the ultrapeer rewrote the leaf's MUID 8fe663d8 3509e1c9ffdd1a415b 7adc 00.
	leaf := GUID(vec(`8fe663d83509e1c9ffdd1a415b7adc00`))
	proxied, ok := WithOOBAddr(leaf, netip.MustParseAddrPort("127.0.0.1:6346"))
	require.True(t, ok)
	require.Equal(t, GUID(vecO9[:16]), proxied)
	_, ok = WithOOBAddr(leaf, netip.MustParseAddrPort("[2001:db8::1]:1"))
	require.False(t, ok)
}

func TestOOBVendorVectors(t *testing.T) {
	vendorOf := func(b []byte) (Header, Vendor) {
		d := mustDatagram(t, b)
		var v Vendor
		require.NoError(t, v.Decode(d.Payload))
		return d.Header, v
	}
	t.Run("LIME/12", func(t *testing.T) {
		for _, tt := range []struct {
			b    []byte
			want OOBReplyNumber
		}{
			{vecO2, OOBReplyNumber{Version: 3, Hits: 1, CanReceiveUnsolicited: true}},
			{vecO5, OOBReplyNumber{Version: 2, Hits: 1, CanReceiveUnsolicited: true}},
		} {
			h, v := vendorOf(tt.b)
			r, err := DecodeOOBReplyNumber(v.Version, v.Data)
			require.NoError(t, err)
			require.Equal(t, tt.want, r)
			rv := r.Vendor()
			require.Equal(t, tt.b, AppendMessage(nil, h, &rv))
		}
	})
	t.Run("LIME/11", func(t *testing.T) {
		for _, tt := range []struct {
			b    []byte
			want OOBReplyAck
		}{
			{vecO3, OOBReplyAck{Version: 3, Wanted: OOBWantAll, Token: vec(`70cefefdacd3e9a0`)}},
			{vecO6, OOBReplyAck{Version: 2, Wanted: OOBWantAll}},
			{vecO7, OOBReplyAck{Version: 3, Wanted: 2, Token: vec(`f14aee7c`)}},
		} {
			d := mustDatagram(t, tt.b)
			require.True(t, d.CanInflate, "TTL 09")
			h, v := vendorOf(tt.b)
			a, err := DecodeOOBReplyAck(v.Version, v.Data)
			require.NoError(t, err)
			require.Equal(t, tt.want, a)
			av := a.Vendor()
			h.TTL |= UDPCanInflate
			require.Equal(t, tt.b, AppendMessage(nil, h, &av))
		}
	})
	t.Run("GTKG/7", func(t *testing.T) {
		for _, tt := range []struct {
			b    []byte
			want UDPConnectBack
		}{
			{vecC2, UDPConnectBack{Version: 2, Port: 47379, GUID: GUID(vecC2[:16])}}, // v2: the MUID
			{vecC3, UDPConnectBack{Version: 1, Port: 47379, GUID: GUID(vecC3[len(vecC3)-16:])}},
		} {
			h, v := vendorOf(tt.b)
			c, err := DecodeUDPConnectBack(v.Version, h.GUID, v.Data)
			require.NoError(t, err)
			require.Equal(t, tt.want, c)
			cv := c.Vendor()
			require.Equal(t, tt.b, AppendMessage(nil, h, &cv))
		}
		// C4 answers C2: a plain Ping whose MUID is C2's.
		require.Equal(t, vecC4, AppendMessage(nil, Header{GUID: GUID(vecC2[:16]), Type: TypePing, TTL: 1}, nil))
	})
	t.Run("BEAR/7", func(t *testing.T) {
		_, v := vendorOf(vecC1)
		c, err := DecodeTCPConnectBack(v.Data)
		require.NoError(t, err)
		require.Equal(t, uint16(45701), c.Port)
	})
}

func TestOOBVendorErrors(t *testing.T) {
	_, err := DecodeOOBReplyNumber(3, []byte{0, 1})
	require.ErrorIs(t, err, ErrMalformed, "0 hits")
	_, err = DecodeOOBReplyNumber(3, []byte{1})
	require.ErrorIs(t, err, ErrTruncated, "v3 without flags")
	r, err := DecodeOOBReplyNumber(1, []byte{5})
	require.NoError(t, err)
	require.Equal(t, OOBReplyNumber{Version: 1, Hits: 5}, r)

	_, err = DecodeOOBReplyAck(3, nil)
	require.ErrorIs(t, err, ErrTruncated)
	_, err = DecodeOOBReplyAck(3, []byte{1, 0xc3, 0x82, 'S', 'O'})
	require.ErrorIs(t, err, ErrTruncated, "GGEP cut short")
	long := GGEP{{ID: "SO", Data: make([]byte, MaxOOBTokenLen+1)}}.Append([]byte{1})
	_, err = DecodeOOBReplyAck(3, long)
	require.ErrorIs(t, err, ErrMalformed)
	a, err := DecodeOOBReplyAck(3, []byte{7})
	require.NoError(t, err)
	require.Nil(t, a.Token, "v3 without a token, as GTKG accepts")

	_, err = DecodeUDPConnectBack(1, GUID{}, make([]byte, 17))
	require.ErrorIs(t, err, ErrTruncated, "v1 without the whole GUID")
	_, err = DecodeUDPConnectBack(2, GUID{}, []byte{0, 0})
	require.ErrorIs(t, err, ErrMalformed, "port 0")
}

func TestUDPMessagesSupported(t *testing.T) {
	m := MessagesSupported{Entries: UDPMessagesSupported}
	v := m.Vendor()
	got, err := DecodeMessagesSupported(v.Data)
	require.NoError(t, err)
	ver, ok := got.Supports(VendorLIME, SelOOBReplyNumber)
	require.True(t, ok)
	require.Equal(t, uint16(3), ver)
	// Entry layout as in section 18: 4c494d45 0c00 0300 = LIME/12v3.
	require.Contains(t, hex.EncodeToString(v.Data), "4c494d450c000300")
}

// udpSeeds returns every recorded datagram of the UDP lab.
func udpSeeds(f *testing.F) [][]byte {
	files, err := filepath.Glob(filepath.Join(udpInteropDir, "*.udp-*.bin"))
	require.NoError(f, err)
	var out [][]byte
	for _, file := range files {
		out = append(out, readDatagrams(f, file)...)
	}
	return out
}

func FuzzDatagram(f *testing.F) {
	for _, b := range udpSeeds(f) {
		f.Add(b, true)
	}
	f.Add(AppendDatagram(nil, Header{Type: TypeQuery, TTL: 1}, &Query{Flags: FlagMark, Criteria: strings.Repeat("ab ", 200)}, true), true)
	f.Fuzz(func(t *testing.T, b []byte, guess bool) {
		d, err := DecodeDatagram(b, guess)
		if err != nil {
			return
		}
		require.Equal(t, int(d.Header.Length), len(d.Payload))
		require.LessOrEqual(t, d.Header.Length, MaxPayload(d.Header.Type))
		require.True(t, UDPAccepts(d.Header.Type, guess))
		// Decoding is idempotent through the encoder.
		again, err := DecodeDatagram(AppendDatagram(nil, d.Header, rawPayload(d.Payload), d.Deflated), guess)
		require.NoError(t, err)
		require.Equal(t, d.Payload, again.Payload)
		switch d.Header.Type {
		case TypePing:
			var p Ping
			_ = p.Decode(d.Payload)
			r := ParsePingRequest(p.GGEP)
			require.Equal(t, r, ParsePingRequest(r.GGEP()))
		case TypePong:
			var p Pong
			if p.Decode(d.Payload) == nil {
				_, _ = ParsePongInfo(p.GGEP)
			}
		case TypeVendor, TypeStdVendor:
			var v Vendor
			if v.Decode(d.Payload) == nil {
				_, _ = DecodeOOBReplyNumber(v.Version, v.Data)
				_, _ = DecodeOOBReplyAck(v.Version, v.Data)
				_, _ = DecodeUDPConnectBack(v.Version, d.Header.GUID, v.Data)
			}
		}
	})
}

type rawPayload []byte

func (r rawPayload) Append(dst []byte) []byte { return append(dst, r...) }

// FuzzPongInfo: a Pong's GGEP block, typed and re-encoded, reads back the
// same.
func FuzzPongInfo(f *testing.F) {
	for _, b := range udpSeeds(f) {
		if len(b) > HeaderLen+PongLen && b[16] == byte(TypePong) {
			f.Add(b[HeaderLen+PongLen:])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, _, err := ParseGGEP(b)
		if err != nil {
			return
		}
		info, _ := ParsePongInfo(g)
		g2, _, err := ParseGGEP(info.AppendGGEP(nil).Append(nil))
		if err != nil {
			require.Empty(t, info.AppendGGEP(nil))
			return
		}
		info2, err := ParsePongInfo(g2)
		require.NoError(t, err)
		// Keys with an all-zero value are not written (absent) and the
		// encoder drops non-IPv4 IPP hosts; compare what survives a round.
		require.Equal(t, info2, mustReparse(t, info2))
	})
}

func mustReparse(t *testing.T, p PongInfo) PongInfo {
	g, _, err := ParseGGEP(p.AppendGGEP(nil).Append(nil))
	if err != nil {
		return PongInfo{}
	}
	out, err := ParsePongInfo(g)
	require.NoError(t, err)
	return out
}

// FuzzOOBVendor: the UDP-side vendor data decoders never panic and what
// they accept re-encodes to something they read back the same.
func FuzzOOBVendor(f *testing.F) {
	for _, b := range [][]byte{vecO2, vecO3, vecO5, vecO6, vecO7, vecC2, vecC3} {
		v := Vendor{}
		_ = v.Decode(b[HeaderLen:])
		f.Add(v.Version, v.Data)
	}
	f.Fuzz(func(t *testing.T, version uint16, data []byte) {
		if r, err := DecodeOOBReplyNumber(version, data); err == nil {
			v := r.Vendor()
			r2, err := DecodeOOBReplyNumber(v.Version, v.Data)
			require.NoError(t, err)
			if version != 0 {
				require.Equal(t, r, r2)
			}
		}
		if a, err := DecodeOOBReplyAck(version, data); err == nil {
			v := a.Vendor()
			a2, err := DecodeOOBReplyAck(v.Version, v.Data)
			require.NoError(t, err)
			require.Equal(t, a.Wanted, a2.Wanted)
			require.Equal(t, a.Token, a2.Token)
		}
		muid := GUID{1, 2, 3}
		if c, err := DecodeUDPConnectBack(version, muid, data); err == nil {
			v := c.Vendor()
			c2, err := DecodeUDPConnectBack(v.Version, c.GUID, v.Data)
			require.NoError(t, err)
			require.Equal(t, c.Port, c2.Port)
			require.Equal(t, c.GUID, c2.GUID)
		}
	})
}

func BenchmarkDecodeDatagram(b *testing.B) {
	for _, bb := range []struct {
		name string
		b    []byte
	}{
		{"pong-U7", vecU7},
		{"lime11-O3", vecO3},
		{"deflated-query", AppendDatagram(nil, Header{Type: TypeQuery, TTL: 1}, &Query{Flags: FlagMark, Criteria: strings.Repeat("alpha ", 100)}, true)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.b)))
			for b.Loop() {
				if _, err := DecodeDatagram(bb.b, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParsePongInfo(b *testing.B) {
	var p Pong
	require.NoError(b, p.Decode(vecU4[HeaderLen:]))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePongInfo(p.GGEP); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPongInfo(b *testing.B) {
	var p Pong
	require.NoError(b, p.Decode(vecU7[HeaderLen:]))
	info, err := ParsePongInfo(p.GGEP)
	require.NoError(b, err)
	h := Header{Type: TypePong, TTL: 1}
	buf := make([]byte, 0, 256)
	g := make(GGEP, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		p.GGEP = info.AppendGGEP(g[:0])
		buf = AppendDatagram(buf[:0], h, &p, false)
	}
}

func BenchmarkDecodeOOBReplyAck(b *testing.B) {
	data := vecO3[HeaderLen+VendorHeaderLen:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOOBReplyAck(3, data); err != nil {
			b.Fatal(err)
		}
	}
}
