package guess

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func TestCheckQuery(t *testing.T) {
	k := newKeys(t0, time.Hour, counterFill())
	from := netip.MustParseAddrPort("127.0.0.37:53483")
	good := k.Key(from, t0)
	other := k.Key(netip.MustParseAddrPort("127.0.0.37:53484"), t0)
	for _, tc := range []struct {
		name string
		g    protocol.GGEP
		want Verdict
		scp  bool
	}{
		{"valid with SCP", protocol.GGEP{{ID: "QK", Data: good[:]}, {ID: "SCP"}}, Answer, true},
		{"valid", protocol.GGEP{{ID: "QK", Data: good[:]}}, Answer, false},
		{"no extension at all (GTKG answers; we do not)", nil, MissingKey, false},
		{"SCP without QK", protocol.GGEP{{ID: "SCP"}}, MissingKey, true},
		{"another port's key", protocol.GGEP{{ID: "QK", Data: other[:]}}, BadKey, false},
		{"short key", protocol.GGEP{{ID: "QK", Data: good[:3]}}, BadKey, false},
		{"empty key", protocol.GGEP{{ID: "QK"}}, BadKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := k.CheckQuery(tc.g, from, t0.Add(time.Minute))
			assert.Equal(t, tc.want, d.Verdict, d.Verdict.String())
			assert.Equal(t, tc.scp, d.MoreHosts)
			if tc.want == Answer {
				assert.Equal(t, Key{}, d.Key, "no key handed out to a valid query")
			} else {
				assert.Equal(t, good, d.Key, "a refusal carries the source's fresh key")
				assert.True(t, k.Valid(d.Key[:], from, t0.Add(time.Minute)))
			}
		})
	}
}

func TestCheckQueryKeyExpires(t *testing.T) {
	k := newKeys(t0, time.Hour, counterFill())
	from := netip.MustParseAddrPort("10.0.0.1:6346")
	key := k.Key(from, t0)
	g := protocol.GGEP{{ID: "QK", Data: key[:]}}
	require.Equal(t, Answer, k.CheckQuery(g, from, t0.Add(90*time.Minute)).Verdict, "previous secret still alive")
	d := k.CheckQuery(g, from, t0.Add(2*time.Hour))
	require.Equal(t, BadKey, d.Verdict, "both secrets rotated")
	assert.NotEqual(t, key, d.Key)
}

func TestExtensions(t *testing.T) {
	key := Key{0x0c, 0x47, 0x73, 0x48}
	e := KeyExtension(key)
	key[0] = 0
	assert.Equal(t, protocol.Extension{ID: "QK", Data: []byte{0x0c, 0x47, 0x73, 0x48}}, e, "a copy")
	assert.Equal(t, protocol.Extension{ID: "GUE", Data: []byte{2}}, GUEExtension())
}

// FuzzCheckQuery: any GGEP block from the wire decides without panicking,
// and only a block with our key for that source is answered.
func FuzzCheckQuery(f *testing.F) {
	k := newKeys(t0, time.Hour, counterFill())
	from := netip.MustParseAddrPort("127.0.0.37:53483")
	good := k.Key(from, t0)
	f.Add(protocol.GGEP{{ID: "QK", Data: good[:]}, {ID: "SCP"}}.Append(nil))
	f.Add(protocol.GGEP{{ID: "QK"}}.Append(nil))
	f.Add([]byte{0xc3, 0x02, 0x51, 0x4b, 0x44, 0x0c, 0x47, 0x73, 0x48, 0x83, 0x53, 0x43, 0x50, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, _, err := protocol.ParseGGEP(b)
		if err != nil {
			return
		}
		d := k.CheckQuery(g, from, t0)
		qk, _ := g.Get("QK")
		if d.Verdict == Answer && string(qk) != string(good[:]) {
			t.Fatalf("answered key %x", qk)
		}
	})
}

func BenchmarkCheckQuery(b *testing.B) {
	k := NewKeys(t0)
	from := netip.MustParseAddrPort("127.0.0.37:53483")
	key := k.Key(from, t0)
	g := protocol.GGEP{{ID: "QK", Data: key[:]}, {ID: "SCP"}}
	b.ReportAllocs()
	for b.Loop() {
		if k.CheckQuery(g, from, t0).Verdict != Answer {
			b.Fatal("refused")
		}
	}
}
