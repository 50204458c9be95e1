package guess

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counterFill gives each new secret distinct, reproducible bytes.
func counterFill() func([]byte) {
	n := byte(0)
	return func(b []byte) {
		n++
		for i := range b {
			b[i] = n
		}
	}
}

var t0 = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

func TestTEAVectors(t *testing.T) {
	// The published TEA vector (zero key, zero block: 41ea3a0a 94baa940) and
	// one computed by an independent Python transcription of
	// gtk-gnutella's t_encrypt(); words are little-endian in the bytes, as
	// GTKG's peek_le32().
	tests := []struct {
		key          teaKey
		v0, v1       uint32
		want0, want1 uint32
	}{
		{teaKey{}, 0, 0, 0x41ea3a0a, 0x94baa940},
		{leKey(0x00112233, 0x44556677, 0x8899aabb, 0xccddeeff), 0x01234567, 0x89abcdef, 0x126c6b92, 0xc0653a3e},
	}
	for _, tt := range tests {
		var in [8]byte
		binary.LittleEndian.PutUint32(in[0:], tt.v0)
		binary.LittleEndian.PutUint32(in[4:], tt.v1)
		out := teaEncrypt(&tt.key, in)
		require.Equal(t, tt.want0, binary.LittleEndian.Uint32(out[0:]))
		require.Equal(t, tt.want1, binary.LittleEndian.Uint32(out[4:]))
		require.Equal(t, tt.want0^tt.want1, teaSqueeze(out))
	}
}

func leKey(w ...uint32) teaKey {
	var k teaKey
	for i, v := range w {
		binary.LittleEndian.PutUint32(k[4*i:], v)
	}
	return k
}

// The IPv4 key is GTKG's sectoken: TEA of ip BE | port BE | 0000, squeezed,
// written BE.
func TestKeyLayoutIsGTKGs(t *testing.T) {
	k := newKeys(t0, RotatePeriod, counterFill())
	addr := netip.MustParseAddrPort("127.0.0.35:58516")
	block := [8]byte{127, 0, 0, 35, 0xe4, 0x94, 0, 0}
	enc := teaEncrypt(&k.secrets[0], block)
	want := binary.BigEndian.AppendUint32(nil, teaSqueeze(enc))
	got := k.Key(addr, t0)
	require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got[:]))
	// An IPv4-mapped IPv6 source is the IPv4 host.
	require.Equal(t, got, k.Key(netip.MustParseAddrPort("[::ffff:127.0.0.35]:58516"), t0))
}

// The properties gtk-gnutella showed in the lab, replayed with the
// addresses of 32 and 34: one key per IP:port, stable; bound to the port;
// a wrong key refused; the right key from another port refused.
func TestKeysLabProperties(t *testing.T) {
	k := NewKeys(t0)
	a := netip.MustParseAddrPort("127.0.0.38:59190")
	otherPort := netip.MustParseAddrPort("127.0.0.38:43804")
	otherIP := netip.MustParseAddrPort("127.0.0.39:59190")
	key := k.Key(a, t0)
	require.Equal(t, key, k.Key(a, t0.Add(time.Hour)), "the same IP:port gets the same key")
	require.NotEqual(t, key, k.Key(otherPort, t0), "keys are bound to the port")
	require.NotEqual(t, key, k.Key(otherIP, t0))
	require.True(t, k.Valid(key[:], a, t0))
	require.False(t, k.Valid(key[:], otherPort, t0), "34: the right key from another source port is refused")
	require.False(t, k.Valid(key[:], otherIP, t0))
	bad := key
	bad[3] ^= 1
	require.False(t, k.Valid(bad[:], a, t0), "34: a wrong key")
	require.False(t, k.Valid(append(key[:], 0), a, t0), "GTKG refuses keys whose length is not 4")
	require.False(t, k.Valid(key[:3], a, t0))
	require.False(t, k.Valid(nil, a, t0))
}

func TestKeysRotation(t *testing.T) {
	k := newKeys(t0, RotatePeriod, counterFill())
	a := netip.MustParseAddrPort("192.0.2.7:6346")
	old := k.Key(a, t0)

	// Within the first period: same key.
	require.Equal(t, old, k.Key(a, t0.Add(RotatePeriod-time.Second)))
	// One rotation: a new key is issued, the old one still valid.
	fresh := k.Key(a, t0.Add(RotatePeriod))
	require.NotEqual(t, old, fresh)
	require.True(t, k.Valid(old[:], a, t0.Add(RotatePeriod)))
	require.True(t, k.Valid(fresh[:], a, t0.Add(RotatePeriod)))
	// Two rotations: the first key is gone, the second still valid.
	require.False(t, k.Valid(old[:], a, t0.Add(2*RotatePeriod)))
	require.True(t, k.Valid(fresh[:], a, t0.Add(2*RotatePeriod)))
	// A clock going backwards changes nothing.
	require.True(t, k.Valid(fresh[:], a, t0))
	// A long sleep: both secrets are fresh, no old key survives.
	last := k.Key(a, t0.Add(2*RotatePeriod))
	require.False(t, k.Valid(last[:], a, t0.Add(100*RotatePeriod)))
	// And rotation goes on from the wake-up time.
	woke := k.Key(a, t0.Add(100*RotatePeriod))
	require.True(t, k.Valid(woke[:], a, t0.Add(101*RotatePeriod-time.Second)))
	require.True(t, k.Valid(woke[:], a, t0.Add(101*RotatePeriod)))
	require.False(t, k.Valid(woke[:], a, t0.Add(102*RotatePeriod)))
}

func TestKeysIPv6(t *testing.T) {
	k := newKeys(t0, RotatePeriod, counterFill())
	a := netip.MustParseAddrPort("[2001:db8::1]:6346")
	key := k.Key(a, t0)
	require.True(t, k.Valid(key[:], a, t0))
	for _, other := range []string{"[2001:db8::1]:6347", "[2001:db8::2]:6346", "[2001:db9::1]:6346"} {
		require.False(t, k.Valid(key[:], netip.MustParseAddrPort(other), t0), other)
	}
}

// Secrets differ between generators: a key of one node is worthless at
// another.
func TestKeysSecretsAreRandom(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.7:6346")
	k1, k2 := NewKeys(t0), NewKeys(t0)
	key := k1.Key(a, t0)
	require.NotEqual(t, key, k2.Key(a, t0))
	require.False(t, k2.Valid(key[:], a, t0))
}

func FuzzKeysValid(f *testing.F) {
	f.Add([]byte{0x78, 0xb9, 0xf1, 0x16}, []byte{127, 0, 0, 35}, uint16(58516)) // 32's key and source
	f.Add([]byte{0xa2, 0x08, 0x0e, 0x5e}, []byte{127, 0, 0, 38}, uint16(43804)) // 34's key from the other port
	f.Add([]byte{}, make([]byte, 16), uint16(0))
	k := newKeys(t0, RotatePeriod, counterFill())
	f.Fuzz(func(t *testing.T, key, ip []byte, port uint16) {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			return
		}
		ap := netip.AddrPortFrom(addr, port)
		issued := k.Key(ap, t0)
		require.True(t, k.Valid(issued[:], ap, t0))
		if k.Valid(key, ap, t0) {
			require.Len(t, key, KeyLen)
		}
	})
}

func BenchmarkKey(b *testing.B) {
	k := NewKeys(t0)
	a := netip.MustParseAddrPort("192.0.2.7:6346")
	b.ReportAllocs()
	for b.Loop() {
		k.Key(a, t0)
	}
}

func BenchmarkValid(b *testing.B) {
	k := NewKeys(t0)
	a := netip.MustParseAddrPort("192.0.2.7:6346")
	key := k.Key(a, t0)
	b.ReportAllocs()
	for b.Loop() {
		if !k.Valid(key[:], a, t0) {
			b.Fatal("refused")
		}
	}
}
