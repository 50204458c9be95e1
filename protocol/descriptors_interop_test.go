package protocol

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const descInteropDir = "../testdata/interop"

type recorded struct {
	file string
	hdr  Header
	p    []byte
}

// readRecorded returns every descriptor of every *-msgs.bin file of a client.
func readRecorded(t testing.TB, client string) []recorded {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(descInteropDir, client, "*-msgs.bin"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skipf("no interop files under %s", descInteropDir)
	}
	var out []recorded
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		b = skipHandshakeBlocks(b)
		d := NewDecoder(bytes.NewReader(b))
		n := 0
		for {
			h, p, err := d.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "%s descriptor %d", f, n)
			out = append(out, recorded{file: filepath.Base(f), hdr: h, p: bytes.Clone(p)})
			n++
		}
		if len(b) > 0 {
			require.NotZero(t, n, f)
		}
	}
	return out
}

// skipHandshakeBlocks drops the handshake blocks the probe recorded in
// front of its own (tx) descriptor stream.
func skipHandshakeBlocks(b []byte) []byte {
	for bytes.HasPrefix(b, []byte("GNUTELLA")) {
		i := bytes.Index(b, []byte("\r\n\r\n"))
		if i < 0 {
			return nil
		}
		b = b[i+4:]
	}
	return b
}

// Every recorded descriptor goes through the Decoder and its payload
// decoder without error, and re-encodes to a payload that decodes the same.
func TestInteropReplayAll(t *testing.T) {
	for _, client := range []string{"gtk-gnutella", "gnutella-bun-client"} {
		t.Run(client, func(t *testing.T) {
			counts := map[PayloadType]int{}
			for i, r := range readRecorded(t, client) {
				m, err := decodePayload(r.hdr.Type, r.p)
				require.NoError(t, err, "%s #%d %v", r.file, i, r.hdr.Type)
				counts[r.hdr.Type]++
				if m == nil {
					require.Equal(t, TypeQRP, r.hdr.Type, "%s #%d", r.file, i) // QRP: the QRP codec's business
					continue
				}
				again := newLike(m)
				require.NoError(t, again.Decode(m.Append(nil)), "%s #%d %v", r.file, i, r.hdr.Type)
				require.Equal(t, normalize(m), normalize(again), "%s #%d %v", r.file, i, r.hdr.Type)
				if v, ok := m.(*Vendor); ok {
					requireVendorDecodes(t, v)
				}
			}
			t.Logf("%s: %v", client, counts)
		})
	}
}

// requireVendorDecodes runs the decoder of every vendor message servent
// knows.
func requireVendorDecodes(t *testing.T, v *Vendor) {
	t.Helper()
	var err error
	switch {
	case v.Is(VendorNull, SelMessagesSupported):
		_, err = DecodeMessagesSupported(v.Data)
	case v.Is(VendorNull, SelFeaturesSupported):
		_, err = DecodeFeaturesSupported(v.Data)
	case v.Is(VendorBEAR, SelHopsFlow):
		_, err = DecodeHopsFlow(v.Data)
	case v.Is(VendorBEAR, SelTCPConnectBack):
		_, err = DecodeTCPConnectBack(v.Data)
	case v.Is(VendorBEAR, SelQueryStatusResp):
		_, err = DecodeQueryStatusResponse(v.Data)
	case v.Is(VendorLIME, SelPushProxyAck):
		_, err = DecodePushProxyAck(v.Version, v.Data)
	}
	require.NoError(t, err, "%q/%d v%d", v.Vendor, v.Selector, v.Version)
}

// normalize turns empty reused slices into nil: a decoder keeps the storage
// of an emptied slice for the next Decode, which require.Equal would see.
func normalize(m decodable) decodable {
	switch v := m.(type) {
	case *Query:
		if len(v.GGEP) == 0 {
			v.GGEP = nil
		}
		if len(v.URNs) == 0 {
			v.URNs = nil
		}
		if len(v.SHA1s) == 0 {
			v.SHA1s = nil
		}
	case *QueryHit:
		if len(v.GGEP) == 0 {
			v.GGEP = nil
		}
		for i := range v.Results {
			if len(v.Results[i].GGEP) == 0 {
				v.Results[i].GGEP = nil
			}
			if len(v.Results[i].URNs) == 0 {
				v.Results[i].URNs = nil
			}
		}
	case *Ping:
		if len(v.GGEP) == 0 {
			v.GGEP = nil
		}
	case *Pong:
		if len(v.GGEP) == 0 {
			v.GGEP = nil
		}
	case *Push:
		if len(v.GGEP) == 0 {
			v.GGEP = nil
		}
	}
	return m
}

// recordedIn returns the descriptors of one recorded file, in order.
func recordedIn(t *testing.T, client, file string) []recorded {
	t.Helper()
	var out []recorded
	for _, r := range readRecorded(t, client) {
		if r.file == file {
			out = append(out, r)
		}
	}
	require.NotEmpty(t, out, file)
	return out
}

// firstOf returns the n-th (0-based) descriptor of type typ in rs.
func firstOf(t *testing.T, rs []recorded, typ PayloadType, n int) recorded {
	t.Helper()
	for _, r := range rs {
		if r.hdr.Type == typ {
			if n == 0 {
				return r
			}
			n--
		}
	}
	t.Fatalf("no %v #%d", typ, n)
	return recorded{}
}

// gtk-gnutella 02: the vendor messages it sends right after the handshake,
// its Pong and its QueryHit, field by field (values from the .txt file).
func TestInteropGTKGLeafSession(t *testing.T) {
	rx := recordedIn(t, "gtk-gnutella", "02-leaf-deflate-ping-query.rx-msgs.bin")
	gtkgGUID := mustGUID(t, "b95e310229469f0cb2ee0b09d317fa1a")

	// Messages Supported: vendor 00000000/0 v0, all-zero GUID, TTL 1, 27 entries.
	r := rx[0]
	require.Equal(t, Header{Type: TypeVendor, TTL: 1, Hops: 0, Length: 226}, r.hdr)
	var v Vendor
	require.NoError(t, v.Decode(r.p))
	require.True(t, v.Is(VendorNull, SelMessagesSupported))
	require.Equal(t, uint16(0), v.Version)
	ms, err := DecodeMessagesSupported(v.Data)
	require.NoError(t, err)
	require.Len(t, ms.Entries, 27)
	require.Equal(t, VendorEntry{Vendor: VendorBEAR, Selector: 4, Version: 1}, ms.Entries[0])
	require.Equal(t, VendorEntry{Vendor: VendorBEAR, Selector: 7, Version: 1}, ms.Entries[1])
	require.Equal(t, VendorEntry{Vendor: VendorBEAR, Selector: 11, Version: 1}, ms.Entries[2])
	require.Equal(t, VendorEntry{Vendor: VendorBEAR, Selector: 12, Version: 1}, ms.Entries[3])
	require.Equal(t, VendorEntry{Vendor: VendorGTKG, Selector: 7, Version: 2}, ms.Entries[5])
	require.Equal(t, VendorEntry{Vendor: VendorLIME, Selector: 24, Version: 2}, ms.Entries[26])
	ver, ok := ms.Supports(VendorLIME, SelPushProxyAck)
	require.True(t, ok)
	require.Equal(t, uint16(2), ver)
	ver, ok = ms.Supports(VendorLIME, SelPushProxyReq)
	require.True(t, ok)
	require.Equal(t, uint16(2), ver)
	_, ok = ms.Supports(VendorBEAR, 99)
	require.False(t, ok)
	// Our encoder reproduces the payload byte for byte.
	enc := ms.Vendor()
	require.Equal(t, r.p, enc.Append(nil))

	// Features Supported: 00000000/10 v0.
	r = rx[1]
	require.Equal(t, Header{Type: TypeVendor, TTL: 1, Hops: 0, Length: 46}, r.hdr)
	require.NoError(t, v.Decode(r.p))
	require.True(t, v.Is(VendorNull, SelFeaturesSupported))
	fs, err := DecodeFeaturesSupported(v.Data)
	require.NoError(t, err)
	require.Equal(t, []FeatureEntry{
		{[4]byte([]byte("HSEP")), 1}, {[4]byte([]byte("WHAT")), 1}, {[4]byte([]byte("QRP1")), 1},
		{[4]byte([]byte("F2FT")), 0xFFFF}, {[4]byte([]byte("TCPI")), 1}, {[4]byte([]byte("TLS!")), 1},
	}, fs.Features)
	enc = fs.Vendor()
	require.Equal(t, r.p, enc.Append(nil))

	// Pong for itself: 127.0.0.1:6346, 3 files, 8 KB, GGEP VC GUE UP DU TLS.
	r = firstOf(t, rx, TypePong, 0)
	require.Equal(t, uint8(1), r.hdr.TTL)
	require.Equal(t, uint8(0), r.hdr.Hops)
	var pong Pong
	require.NoError(t, pong.Decode(r.p))
	require.Equal(t, uint16(6346), pong.Port)
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), pong.IP)
	require.Equal(t, uint32(3), pong.Files)
	require.Equal(t, uint32(8), pong.KB)
	require.Equal(t, GGEP{
		{ID: "VC", Data: []byte("GTKG\x83")},
		{ID: "GUE", Data: []byte{0x02}},
		{ID: "UP", Data: []byte{0x02, 0xff, 0x32}},
		{ID: "DU", Data: []byte{0x80, 0x51, 0x01}},
		{ID: "TLS"},
	}, pong.GGEP)
	du, _ := pong.GGEP.Get("DU")
	uptime, err := ParseVLInt(du)
	require.NoError(t, err)
	require.Equal(t, uint64(86400), uptime)
	require.Equal(t, r.p, pong.Append(nil)) // GTKG's plain GGEP re-encodes byte for byte

	// QueryHit for "alpha": TTL 6, one result with text urn, GGEP TT and CT;
	// trailer GTKG 2c 21 with GTKGV and TLS.
	r = firstOf(t, rx, TypeQueryHit, 0)
	require.Equal(t, uint8(6), r.hdr.TTL)
	require.Equal(t, uint8(0), r.hdr.Hops)
	var qh QueryHit
	require.NoError(t, qh.Decode(r.p))
	require.Equal(t, uint16(6346), qh.Port)
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), qh.IP)
	require.Equal(t, uint32(16), qh.Speed)
	require.Len(t, qh.Results, 1)
	res := qh.Results[0]
	require.Equal(t, uint32(3), res.Index)
	require.Equal(t, uint64(41), res.Size)
	require.Equal(t, "alpha beta.txt", res.Name)
	require.Equal(t, "urn:sha1:CP3F6HSN2FRG2H27KAWWT2VOTFTYQ33N", res.SHA1.URN())
	require.Empty(t, res.URNs)
	require.Equal(t, TTH(dhex(t, "b495f51e9964bc341657ce3e322eb5699c7059c042479942")), res.TTH, "GGEP TT: the Tiger tree root")
	require.Equal(t, GGEP{{ID: "CT", Data: dhex(t, "12ce1c67")}}, res.GGEP)
	require.Equal(t, VendorGTKG, qh.Vendor)
	require.False(t, qh.Push)
	require.False(t, qh.Busy)
	require.False(t, qh.Uploaded)
	require.False(t, qh.Measured)
	require.Equal(t, GGEP{
		{ID: "GTKGV", Data: dhex(t, "010102030065e3bd8000000000050003")},
		{ID: "TLS"},
	}, qh.GGEP)
	require.Equal(t, gtkgGUID, qh.ServentGUID)
	require.Equal(t, r.p, qh.Append(nil)) // same layout as ours: byte for byte

	// The URN-only query the probe sent: `\` NUL urn:sha1 NUL; flags as the
	// (little-endian) probe wrote them: 00 80.
	tx := recordedIn(t, "gtk-gnutella", "02-leaf-deflate-ping-query.tx-msgs.bin")
	r = firstOf(t, tx, TypeQuery, 3)
	var q Query
	require.NoError(t, q.Decode(r.p))
	require.Equal(t, QueryFlags(0x0080), q.Flags)
	require.False(t, q.Flags.Has(FlagGGEPH))
	require.Equal(t, 0, q.Flags.MaxHits())
	require.Equal(t, "", q.Criteria)
	require.Equal(t, []SHA1{mustSHA1("CP3F6HSN2FRG2H27KAWWT2VOTFTYQ33N")}, q.SHA1s)

	// The BYE the probe sent: 200, reason with CRLF before the NUL.
	r = firstOf(t, tx, TypeBye, 0)
	var bye Bye
	require.NoError(t, bye.Decode(r.p))
	require.Equal(t, Bye{Code: 200, Reason: "Probe done\r\n"}, bye)
	require.Equal(t, r.p, bye.Append(nil))
}

// gtk-gnutella as an ultrapeer pings with TTL 4 and GGEP SCP = 03.
func TestInteropGTKGPingSCP(t *testing.T) {
	rx := recordedIn(t, "gtk-gnutella", "03-ultra-deflate.rx-msgs.bin")
	r := firstOf(t, rx, TypePing, 0)
	require.Equal(t, uint8(4), r.hdr.TTL)
	require.Equal(t, uint32(7), r.hdr.Length)
	var p Ping
	require.NoError(t, p.Decode(r.p))
	require.Equal(t, GGEP{{ID: "SCP", Data: []byte{0x03}}}, p.GGEP)
	require.Equal(t, r.p, p.Append(nil))
	// Queries it relayed from its leaf: TTL 1, hops 1.
	r = firstOf(t, rx, TypeQuery, 0)
	require.Equal(t, uint8(1), r.hdr.TTL)
	require.Equal(t, uint8(1), r.hdr.Hops)
	var q Query
	require.NoError(t, q.Decode(r.p))
	require.Equal(t, "alpha", q.Criteria)
}

// GnutellaBun: its hit to an 8800 query carries GGEP H after the text urn;
// its trailer sets the speed-measured bit.
func TestInteropBunQueryHitGGEPH(t *testing.T) {
	rx := recordedIn(t, "gnutella-bun-client", "07-leaf-query-flags-wire-8800-ggep-h.rx-msgs.bin")
	r := firstOf(t, rx, TypeQueryHit, 0)
	var qh QueryHit
	require.NoError(t, qh.Decode(r.p))
	require.Equal(t, uint32(512), qh.Speed)
	require.Len(t, qh.Results, 1)
	res := qh.Results[0]
	require.Equal(t, uint32(3), res.Index)
	require.Equal(t, uint64(3000), res.Size)
	require.Equal(t, "gamma delta.mp3", res.Name)
	require.Equal(t, mustSHA1("UIIYHFNXCZWUUBQFG4K2L72TDP4EWPLQ"), res.SHA1)
	require.Empty(t, res.GGEP) // H was decoded into SHA1
	require.Equal(t, [4]byte([]byte("GBUN")), qh.Vendor)
	require.True(t, qh.Measured)
	require.False(t, qh.Push)
	require.Equal(t, GGEP{{ID: "BH"}}, qh.GGEP)
	require.Equal(t, mustGUID(t, "b0b0c11e47000000ff0000000000bb00"), qh.ServentGUID)

	tx := recordedIn(t, "gnutella-bun-client", "07-leaf-query-flags-wire-8800-ggep-h.tx-msgs.bin")
	var q Query
	require.NoError(t, q.Decode(firstOf(t, tx, TypeQuery, 0).p))
	require.Equal(t, FlagMark|FlagGGEPH, q.Flags)
	require.Equal(t, "gamma", q.Criteria)
}

// The six URN query forms of bun 08, then GnutellaBun's own URN query (31):
// empty criteria, text urn, 1C, GGEP H, no trailing NUL.
func TestInteropURNQueryForms(t *testing.T) {
	alpha := mustSHA1("CP3F6HSN2FRG2H27KAWWT2VOTFTYQ33N")
	tx := recordedIn(t, "gnutella-bun-client", "08-leaf-urn-query-variants.tx-msgs.bin")
	want := []struct {
		crit string
		sha1 SHA1
		h    bool
	}{
		{"", alpha, false}, // `\` NUL urn NUL
		{"", alpha, false}, // `\` NUL urn
		{"", alpha, false}, // NUL urn
		{"", alpha, true},  // `\` NUL GGEP H
		{"", alpha, true},  // `\` NUL GGEP H NUL
		{"alpha", mustSHA1("UIIYHFNXCZWUUBQFG4K2L72TDP4EWPLQ"), false},
	}
	for i, w := range want {
		var q Query
		require.NoError(t, q.Decode(firstOf(t, tx, TypeQuery, i).p), i)
		require.Equal(t, w.crit, q.Criteria, i)
		require.Equal(t, []SHA1{w.sha1}, q.SHA1s, i)
		require.Equal(t, w.h, q.GGEP.Has("H"), i)
	}

	rx := recordedIn(t, "gnutella-bun-client", "31-bun-leaf-connects-to-us.rx-msgs.bin")
	var q Query
	require.NoError(t, q.Decode(firstOf(t, rx, TypeQuery, 1).p))
	require.Equal(t, FlagMark|FlagGGEPH|0x32, q.Flags)
	require.Equal(t, 50, q.Flags.MaxHits())
	require.Equal(t, "", q.Criteria)
	require.Equal(t, []SHA1{alpha}, q.SHA1s)
	require.True(t, q.GGEP.Has("H"))
}

// The probe's PUSH to GnutellaBun (60) and GnutellaBun's BYE 413 (61).
func TestInteropPushAndBye(t *testing.T) {
	tx := recordedIn(t, "gnutella-bun-client", "60-ultra-push-giv.tx-msgs.bin")
	r := firstOf(t, tx, TypePush, 0)
	var p Push
	require.NoError(t, p.Decode(r.p))
	require.Equal(t, Push{ServentGUID: mustGUID(t, "b0b0c11e47000000ff0000000000bb00"), Index: 1,
		IP: netip.MustParseAddr("127.0.0.30"), Port: 6351}, p)
	require.Equal(t, r.p, p.Append(nil))

	rx := recordedIn(t, "gnutella-bun-client", "61-leaf-vendor-msg-unsolicited-pong-bad-qrp.rx-msgs.bin")
	var b Bye
	require.NoError(t, b.Decode(firstOf(t, rx, TypeBye, 0).p))
	require.Equal(t, Bye{Code: 413, Reason: "No QRP RESET received before PATCH"}, b)

	// The one-entry Messages Supported the driver sent (BEAR/4 v1).
	tx = recordedIn(t, "gnutella-bun-client", "61-leaf-vendor-msg-unsolicited-pong-bad-qrp.tx-msgs.bin")
	var v Vendor
	require.NoError(t, v.Decode(firstOf(t, tx, TypeVendor, 0).p))
	ms, err := DecodeMessagesSupported(v.Data)
	require.NoError(t, err)
	require.Equal(t, []VendorEntry{{Vendor: VendorBEAR, Selector: SelHopsFlow, Version: 1}}, ms.Entries)
}

// addInteropSeeds adds the recorded payloads of type typ (all descriptor
// streams when typ is nil) as fuzz seeds.
func addInteropSeeds(f *testing.F, typ *PayloadType) {
	files, _ := filepath.Glob(filepath.Join(descInteropDir, "*", "*-msgs.bin"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		b = skipHandshakeBlocks(b)
		if typ == nil {
			f.Add(b)
			continue
		}
		d := NewDecoder(bytes.NewReader(b))
		for {
			h, p, err := d.Next()
			if err != nil {
				break
			}
			if h.Type == *typ {
				f.Add(bytes.Clone(p))
			}
		}
	}
	// gtk-gnutella's IPv6 descriptors (ipv6_lab_test.go), one per file.
	six, _ := filepath.Glob(filepath.Join("testdata", "ipv6-lab", "*.bin"))
	for _, file := range six {
		b, err := os.ReadFile(file)
		if err != nil || len(b) < HeaderLen {
			continue
		}
		if h, err := ParseHeader(b); err == nil && (typ == nil || h.Type == *typ) {
			if typ == nil {
				f.Add(b)
			} else {
				f.Add(b[HeaderLen:])
			}
		}
	}
}

func typePtr(t PayloadType) *PayloadType { return &t }

// GnutellaBun's browse-host answer (16): one raw QueryHit after the HTTP
// header, GUID zero, TTL 0, three results with text urn and GGEP H.
func TestInteropBunBrowseHostHit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(descInteropDir, "gnutella-bun-client", "16-http-browse-host.response.bin"))
	if os.IsNotExist(err) {
		t.Skip("no interop file")
	}
	require.NoError(t, err)
	i := bytes.Index(b, []byte("\r\n\r\n"))
	require.Positive(t, i)
	d := NewDecoder(bytes.NewReader(b[i+4:]))
	h, p, err := d.Next()
	require.NoError(t, err)
	require.Equal(t, Header{Type: TypeQueryHit, Length: 315}, h)
	var qh QueryHit
	require.NoError(t, qh.Decode(p))
	require.Equal(t, uint32(512), qh.Speed)
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), qh.IP)
	want := []struct {
		index uint32
		size  uint64
		name  string
		sha1  string
	}{
		{1, 41, "alpha beta.txt", "CP3F6HSN2FRG2H27KAWWT2VOTFTYQ33N"},
		{2, 45, "epsilon zeta.txt", "M7OBBZDQJH7ARSB45FYIWLT7IKXSAA4O"},
		{3, 3000, "gamma delta.mp3", "UIIYHFNXCZWUUBQFG4K2L72TDP4EWPLQ"},
	}
	require.Len(t, qh.Results, len(want))
	for k, w := range want {
		r := qh.Results[k]
		require.Equal(t, w.index, r.Index)
		require.Equal(t, w.size, r.Size)
		require.Equal(t, w.name, r.Name)
		require.Equal(t, mustSHA1(w.sha1), r.SHA1)
		require.Empty(t, r.GGEP) // the H agreed with the text urn
	}
	require.Equal(t, [4]byte([]byte("GBUN")), qh.Vendor)
	require.True(t, qh.Measured)
	require.Equal(t, GGEP{{ID: "BH"}}, qh.GGEP)
	_, _, err = d.Next()
	require.Equal(t, io.EOF, err)
}
