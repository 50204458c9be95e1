package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPingDecode(t *testing.T) {
	var p Ping
	require.NoError(t, p.Decode(nil))
	require.Nil(t, p.GGEP)
	require.NoError(t, p.Decode(dhex(t, "c3 83 53 43 50 41 03")))
	require.Equal(t, GGEP{{ID: "SCP", Data: []byte{3}}}, p.GGEP)
	// Malformed GGEP and legacy junk: dropped, the Ping stays valid.
	for _, junk := range []string{"c3 93 53 43 50 40", "c3 83 53 43 50", "01 02 03", "c3"} {
		require.NoError(t, p.Decode(dhex(t, junk)), junk)
		require.Empty(t, p.GGEP, junk)
	}
	require.Empty(t, (&Ping{}).Append(nil))
}

func TestPingRoundTrip(t *testing.T) {
	for _, p := range []Ping{{}, {GGEP: GGEP{{ID: "SCP"}}}, {GGEP: GGEP{{ID: "SCP", Data: []byte{1}}, {ID: "DHT", Data: []byte{0, 1, 2}}}}} {
		var got Ping
		require.NoError(t, got.Decode(p.Append(nil)))
		require.Equal(t, p, got)
	}
}

func FuzzPing(f *testing.F) {
	addInteropSeeds(f, typePtr(TypePing))
	f.Add([]byte{})
	f.Add(dhex(f, "c3 83 53 43 50 40"))
	f.Add(dhex(f, "c3 83 53 43 50 41 03"))
	f.Add(dhex(f, "c3 93 53 43 50 40"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Ping
		require.NoError(t, p.Decode(b)) // never fails
		var again Ping
		require.NoError(t, again.Decode(p.Append(nil)))
		require.Equal(t, normalize(&p), normalize(&again))
	})
}
