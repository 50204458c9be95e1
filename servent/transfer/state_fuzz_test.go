package transfer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestOpenHostileState: a state file whose chunk table would not fit in
// memory is skipped when the queue is loaded, not allocated (a panic there
// would stop every start of the servent until the file is deleted).
func TestOpenHostileState(t *testing.T) {
	sha := protocol.SHA1{7}
	for _, c := range []struct{ name, size string }{
		{"known size", "1099511627776"}, // MaxFileSize in 1-byte chunks
		{"unknown size", "-1"},          // the size probe would make the table
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDirs(t)
			dir := filepath.Join(d.data, partialDir)
			require.NoError(t, os.MkdirAll(dir, 0o755))
			st := fmt.Sprintf(`{"sha1":%q,"name":"x","size":%s,"chunk_size":1,"owners":null,"sources":null}`, sha.Base32(), c.size)
			require.NoError(t, os.WriteFile(filepath.Join(dir, sha.Base32()+stateSuffix), []byte(st), 0o644))
			m := openManager(t, d, nil)
			_, ok := m.Get(sha)
			require.False(t, ok, "a download with an impossible chunk table was resumed")
		})
	}
}

// FuzzStateFile reads a download's state file as Open does: whatever it
// holds, a state that is accepted has a chunk table that fits maxChunks
// for any size a source may report, writes back to a file that reads the
// same, and names a file that stays inside the downloads folder.
// Seeds: testdata/fuzz/FuzzStateFile (states as the swarm writes them, and
// the hostile chunk table of TestOpenHostileState) and one built here.
// TestStateKeepsProxies: a pushed source's proxies survive a restart; a
// bad entry drops only itself, and at most MaxPushProxies are read.
func TestStateKeepsProxies(t *testing.T) {
	guid := protocol.GUID{7}
	src := Source{Push: true, ServentGUID: guid, Proxies: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.9:6346")}}
	back, ok := toPersisted(src).source()
	require.True(t, ok)
	require.Equal(t, src, back)

	p := toPersisted(src)
	p.Proxies = append(p.Proxies, "not an address", "192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1", "192.0.2.4:1", "192.0.2.5:1", "192.0.2.6:1", "192.0.2.7:1", "192.0.2.8:1")
	back, ok = p.source()
	require.True(t, ok)
	require.Len(t, back.Proxies, protocol.MaxPushProxies-1, "the first 8 entries, one of them bad")
}

func FuzzStateFile(f *testing.F) {
	guid := protocol.GUID{0xb9, 0x5e, 0x31, 0x02, 0xff}
	seed, err := json.Marshal(&persisted{
		SHA1: protocol.SHA1{1, 2, 3}.Base32(), Name: "free software song.ogg", Size: 4500000, ChunkSize: 512 << 10,
		Owners: []string{"192.0.2.7:6346", "", "push:" + guid.String(), "", "", "", "", "", ""},
		Sources: []persistedSrc{toPersisted(Source{Addr: netip.MustParseAddrPort("192.0.2.7:6346"), Index: 3, Name: "song.ogg"}),
			toPersisted(Source{Push: true, ServentGUID: guid, Addr: netip.MustParseAddrPort("10.0.0.2:6346"),
				Proxies: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.9:6346"), netip.MustParseAddrPort("192.0.2.10:6348")}})},
		Banned: []string{"198.51.100.1:6346"}, Attempts: 2,
	})
	require.NoError(f, err)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		st, sha, err := decodeState(bytes.NewReader(data))
		if err != nil {
			require.Nil(t, st)
			return
		}
		require.Equal(t, sha.Base32(), strings.ToUpper(st.SHA1))
		size := st.Size
		if size < 0 {
			size = MaxFileSize // the size probe may report any size we download
		}
		require.LessOrEqual(t, numChunks(size, st.ChunkSize), maxChunks)

		b, err := json.Marshal(st)
		require.NoError(t, err)
		again, _, err := decodeState(bytes.NewReader(b))
		require.NoError(t, err)
		// Compared as encoded: omitempty makes an empty list and no list
		// the same state ("banned":[] reads back as nil).
		b2, err := json.Marshal(again)
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(b2))

		for _, p := range st.Sources {
			s, ok := p.source()
			if !ok {
				continue
			}
			require.True(t, s.Addr.IsValid() || (s.Push && !s.ServentGUID.IsZero()))
			back, ok := toPersisted(s).source()
			require.True(t, ok)
			require.Equal(t, s, back)
		}

		name := safeName(st.Name, sha)
		require.NotEmpty(t, name)
		require.NotContains(t, []string{".", ".."}, name)
		require.False(t, strings.HasPrefix(name, "."), "hidden name %q", name)
		require.LessOrEqual(t, len(name), 200)
		require.Equal(t, name, filepath.Base(name), "a path, not a name: %q", name)
		for _, r := range name {
			require.False(t, r < 0x20 || r == 0x7f || r == '\\', "%q in %q", r, name)
		}
	})
}
