package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	vecPingMUID  = "0a1b2c3d4e5f6071ff8192a3b4c5d600"
	vecQueryMUID = "3f2e1d0c4b5a6978ff0123456789ab00"
	vecServent   = "53525654c0ffee11ff2233445566aa00"
	sha1Empty    = mustSHA1("3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ")
)

func mustSHA1(b32 string) SHA1 {
	s, err := ParseSHA1Base32(b32)
	if err != nil {
		panic(err)
	}
	return s
}

// decodable is a payload with a Decode method.
type decodable interface {
	Payload
	Decode([]byte) error
}

type descriptorVector struct {
	name string
	hdr  Header
	msg  decodable // the decoded value
	wire string    // header + payload, hex
}

func descriptorVectors(t testing.TB) []descriptorVector {
	pingGUID := mustGUID(t, vecPingMUID)
	queryGUID := mustGUID(t, vecQueryMUID)
	servent := mustGUID(t, vecServent)
	return []descriptorVector{
		{"10.1 Ping", Header{GUID: pingGUID, Type: TypePing, TTL: 1}, &Ping{},
			"0a1b2c3d4e5f6071ff8192a3b4c5d600 00 01 00 00000000"},
		{"10.1 Ping SCP", Header{GUID: pingGUID, Type: TypePing, TTL: 1, Length: 6}, &Ping{GGEP: GGEP{{ID: "SCP"}}},
			"0a1b2c3d4e5f6071ff8192a3b4c5d600 00 01 00 06000000 c3 83 53 43 50 40"},
		{"10.1 Pong", Header{GUID: pingGUID, Type: TypePong, TTL: 1, Length: 21}, &Pong{
			Port: 6346, IP: netip.MustParseAddr("192.0.2.10"), Files: 42, KB: 123456,
			GGEP: GGEP{{ID: "DU", Data: []byte{0x10, 0x0e}}}},
			"0a1b2c3d4e5f6071ff8192a3b4c5d600 01 01 00 15000000 ca18 c000020a 2a000000 40e20100 c3 82 44 55 42 10 0e"},
		{"10.1 Bye", Header{GUID: mustGUID(t, "00112233445566778899aabbccddeeff"), Type: TypeBye, TTL: 1, Length: 16},
			&Bye{Code: 200, Reason: "Shutting down"},
			"00112233445566778899aabbccddeeff 02 01 00 10000000 c800 5368757474696e6720646f776e00"},
		{"10.1 Push", Header{GUID: mustGUID(t, "77665544332211ff00ffeeddccbbaa00"), Type: TypePush, TTL: 3, Length: 26},
			&Push{ServentGUID: servent, Index: 1, IP: netip.MustParseAddr("198.51.100.7"), Port: 6347},
			"77665544332211ff00ffeeddccbbaa00 40 03 00 1a000000 53525654c0ffee11ff2233445566aa00 01000000 c6336407 cb18"},
		{"10.2 Query", Header{GUID: queryGUID, Type: TypeQuery, TTL: 4, Length: 54},
			&Query{Flags: FlagMark | FlagGGEPH, Criteria: "alpha beta", SHA1s: []SHA1{sha1Hello}},
			"3f2e1d0c4b5a6978ff0123456789ab00 80 04 00 36000000 8800 616c70686120626574610075726e3a736861313a454a4d5747593554335a414c413334594436344633415252463247413556495200"[:len("3f2e1d0c4b5a6978ff0123456789ab00 80 04 00 36000000 8800 616c70686120626574610075726e3a736861313a454a4d5747593554335a414c4133345944363446334152524632474135564952")]},
		{"10.3 QueryHit", Header{GUID: queryGUID, Type: TypeQueryHit, TTL: 6, Length: 159}, &QueryHit{
			Port: 6346, IP: netip.MustParseAddr("192.0.2.10"), Speed: 1000,
			Results: []Result{
				{Index: 1, Size: 12, Name: "hello.txt", SHA1: sha1Hello},
				{Index: 2, Size: 0, Name: "empty.bin", SHA1: sha1Empty},
			},
			Vendor: [4]byte{'S', 'R', 'V', 'T'}, GGEP: GGEP{{ID: "BH"}}, ServentGUID: servent},
			"3f2e1d0c4b5a6978ff0123456789ab00 81 06 00 9f000000" +
				"02ca18c000020ae8030000" +
				"010000000c00000068656c6c6f2e7478740075726e3a736861313a454a4d5747593554335a414c413334594436344633415252463247413556495200" +
				"0200000000000000656d7074792e62696e0075726e3a736861313a33493432483353364e4e4651324d53565837585a4b594159534358355142594a00" +
				"53525654022c21c382424840" + "53525654c0ffee11ff2233445566aa00"},
	}
}

// newLike returns a fresh zero value of the same payload type.
func newLike(m decodable) decodable {
	switch m.(type) {
	case *Ping:
		return &Ping{}
	case *Pong:
		return &Pong{}
	case *Bye:
		return &Bye{}
	case *Push:
		return &Push{}
	case *Query:
		return &Query{}
	case *QueryHit:
		return &QueryHit{}
	case *Vendor:
		return &Vendor{}
	}
	panic("unknown payload")
}

// GNUTELLA.md 10.1-10.3: byte-exact encode and decode of every descriptor.
func TestDescriptorVectors(t *testing.T) {
	for _, v := range descriptorVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			wire := dhex(t, v.wire)
			require.Equal(t, wire, AppendMessage(nil, v.hdr, v.msg))
			h, err := ParseHeader(wire)
			require.NoError(t, err)
			require.Equal(t, v.hdr, h)
			require.Equal(t, int(h.Length), len(wire)-HeaderLen)
			got := newLike(v.msg)
			require.NoError(t, got.Decode(wire[HeaderLen:]))
			require.Equal(t, v.msg, got)
		})
	}
}

func TestDescriptorVectorSizes(t *testing.T) {
	sizes := map[string]int{"10.1 Ping": 23, "10.1 Ping SCP": 29, "10.1 Pong": 44, "10.1 Bye": 39, "10.1 Push": 49, "10.2 Query": 77, "10.3 QueryHit": 182}
	for _, v := range descriptorVectors(t) {
		require.Len(t, dhex(t, v.wire), sizes[v.name], v.name)
	}
}

func TestDecoder(t *testing.T) {
	var stream []byte
	vecs := descriptorVectors(t)
	for _, v := range vecs {
		stream = append(stream, dhex(t, v.wire)...)
	}
	// An unknown type is returned too.
	unknown := Header{Type: 0x44, TTL: 1, Length: 3}
	stream = AppendMessage(stream, unknown, &Vendor{Vendor: [4]byte{1, 2, 3}}) // length fixed by AppendMessage
	d := NewDecoder(bufio.NewReader(bytes.NewReader(stream)))
	for _, v := range vecs {
		h, p, err := d.Next()
		require.NoError(t, err)
		require.Equal(t, v.hdr, h)
		require.Equal(t, string(dhex(t, v.wire)[HeaderLen:]), string(p))
	}
	h, p, err := d.Next()
	require.NoError(t, err)
	require.Equal(t, PayloadType(0x44), h.Type)
	require.Len(t, p, 8)
	_, _, err = d.Next()
	require.Equal(t, io.EOF, err)
}

// slowReader hands out one byte per Read so that partial reads are exercised.
type slowReader struct{ b []byte }

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestDecoderErrors(t *testing.T) {
	ping := dhex(t, descriptorVectors(t)[1].wire)

	// Truncated inside the header and inside the payload.
	for _, cut := range []int{1, 22, 24, 28} {
		d := NewDecoder(&slowReader{b: ping[:cut]})
		_, _, err := d.Next()
		require.ErrorIs(t, err, ErrTruncated, "cut %d", cut)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut %d", cut)
	}
	// Per-type limit, checked before reading the payload.
	for _, tt := range []struct {
		t      PayloadType
		length uint32
		ok     bool
	}{
		{TypeQuery, 1024, true}, {TypeQuery, 1025, false},
		{TypeBye, 4096, true}, {TypeBye, 4097, false},
		{TypeQueryHit, 65535, true}, {TypeQueryHit, 65536, false},
		{TypePing, 40960, true}, {TypePing, 40961, false},
		{0x44, 40961, false},
	} {
		hdr := Header{Type: tt.t, TTL: 1, Length: tt.length}.Append(nil)
		d := NewDecoder(bytes.NewReader(hdr)) // no payload follows
		h, _, err := d.Next()
		require.Equal(t, tt.length, h.Length)
		if tt.ok {
			require.ErrorIs(t, err, ErrTruncated, "%v %d", tt.t, tt.length)
		} else {
			require.ErrorIs(t, err, ErrTooLarge, "%v %d", tt.t, tt.length)
		}
	}
	// A read error other than EOF is passed through.
	boom := errors.New("boom")
	_, _, err := NewDecoder(io.MultiReader(bytes.NewReader(ping[:26]), errReader{boom})).Next()
	require.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestMaxPayload(t *testing.T) {
	require.Equal(t, uint32(1024), MaxPayload(TypeQuery))
	require.Equal(t, uint32(65535), MaxPayload(TypeQueryHit))
	require.Equal(t, uint32(4096), MaxPayload(TypeBye))
	require.Equal(t, uint32(40960), MaxPayload(TypeVendor))
	require.Equal(t, uint32(40960), MaxPayload(0x44))
}

func TestDecoderReusesBuffer(t *testing.T) {
	var stream []byte
	for range 3 {
		stream = append(stream, dhex(t, descriptorVectors(t)[2].wire)...)
	}
	d := NewDecoder(bytes.NewReader(stream))
	_, p1, err := d.Next()
	require.NoError(t, err)
	_, p2, err := d.Next()
	require.NoError(t, err)
	require.Equal(t, &p1[0], &p2[0])
	allocs := testing.AllocsPerRun(1, func() {
		d := NewDecoder(bytes.NewReader(stream))
		for {
			if _, _, err := d.Next(); err != nil {
				break
			}
		}
	})
	require.LessOrEqual(t, allocs, 4.0) // decoder, reader, one payload buffer, slack
}

func FuzzDecoder(f *testing.F) {
	addInteropSeeds(f, nil)
	for _, v := range descriptorVectors(f) {
		f.Add(dhex(f, v.wire))
	}
	var all []byte
	for _, v := range descriptorVectors(f) {
		all = append(all, dhex(f, v.wire)...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(bytes.NewReader(b))
		consumed := 0
		for {
			h, p, err := d.Next()
			if err != nil {
				if err == io.EOF {
					require.Equal(t, len(b), consumed)
				}
				return
			}
			require.LessOrEqual(t, h.Length, MaxPayload(h.Type))
			require.Len(t, p, int(h.Length))
			require.Equal(t, b[consumed:consumed+HeaderLen], h.Append(nil))
			consumed += HeaderLen + len(p)
			decodePayload(h.Type, p) // must not panic
		}
	})
}

// decodePayload runs the payload decoder of type t, if servent has one here.
func decodePayload(t PayloadType, p []byte) (decodable, error) {
	var m decodable
	switch t {
	case TypePing:
		m = &Ping{}
	case TypePong:
		m = &Pong{}
	case TypeBye:
		m = &Bye{}
	case TypePush:
		m = &Push{}
	case TypeQuery:
		m = &Query{}
	case TypeQueryHit:
		m = &QueryHit{}
	case TypeVendor, TypeStdVendor:
		m = &Vendor{}
	default:
		return nil, nil
	}
	return m, m.Decode(p)
}
