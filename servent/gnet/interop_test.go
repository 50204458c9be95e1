package gnet

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// interopMsg reads a whole descriptor recorded in the lab.
func interopMsg(t *testing.T, name string) (protocol.Header, []byte, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "interop", name))
	require.NoError(t, err)
	var h protocol.Header
	require.NoError(t, h.Decode(b))
	return h, b[protocol.HeaderLen:], b
}

// TestGTKGLeafGuides replays what a gtk-gnutella 1.2.3 leaf sent our
// ultrapeer in the lab (testdata/interop; the closing note of issue 15):
// its Messages Supported lists BEAR/11 and BEAR/12 and its query is flagged
// GUIDED and OOB. The probe goes out, then our BEAR/11 (the very bytes it
// answered in the lab) asks it, and its BEAR/12 (0 kept: topless
// gtk-gnutella has no window to keep results in) is taken as guidance.
func TestGTKGLeafGuides(t *testing.T) {
	r := newNet(t, true, 3, 1, Config{})
	h, p, _ := interopMsg(t, "gtkg-leaf-messages-supported.bin")
	acts := r.Receive(nil, 100, h, p, t0)
	require.Len(t, acts, 1)
	assert.Equal(t, Vendor, acts[0].Kind)

	h, p, _ = interopMsg(t, "gtkg-leaf-query.bin")
	var q protocol.Query
	require.NoError(t, q.Decode(p))
	require.True(t, q.Flags.Has(protocol.FlagLeafGuided) && q.Flags.Has(protocol.FlagOOB))
	assert.Len(t, queries(r.Receive(nil, 100, h, p, t0)), 3, "the probe")

	at, ok := r.NextWake()
	require.True(t, ok)
	acts = r.Tick(nil, at)
	_, _, want := interopMsg(t, "servent-query-status-request.bin")
	require.Len(t, acts, 1)
	assert.Equal(t, Action{Kind: Send, Link: 100, Msg: want, Priority: Own}, acts[0],
		"guided, its hits go out of band: ask it after the probe")

	h, p, _ = interopMsg(t, "gtkg-leaf-query-status-response.bin")
	r.Receive(nil, 100, h, p, at)
	assert.EqualValues(t, 1, r.Stats().DQGuidance.Load())
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQAllQueried].Load(), "nothing kept, every ultrapeer queried")
}

// TestLeafAnswersGTKGUltrapeer replays the BEAR/11 a gtk-gnutella 1.2.3
// ultrapeer sent our leaf in the lab, for a search whose results our
// filter had all dropped: our answer, and our stop when the search was
// stopped, are the bytes it took then ("solicited, kept_results=0",
// "terminating at user's request").
func TestLeafAnswersGTKGUltrapeer(t *testing.T) {
	r := newNet(t, false, 1, 0, Config{})
	h, p, _ := interopMsg(t, "gtkg-up-query-status-request.bin")
	g := h.GUID
	q := protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH | protocol.FlagLeafGuided, Criteria: "labq song"}
	r.Search(nil, g, &q, t0)
	_, _, answer := interopMsg(t, "servent-leaf-query-status-response.bin")
	assert.Equal(t, Actions{{Kind: Send, Link: 1, Msg: answer, Priority: Own}}, r.Kept(nil, g, 0, t0), "the first report")
	assert.Equal(t, Actions{{Kind: Send, Link: 1, Msg: answer, Priority: Own}}, r.Receive(nil, 1, h, p, t0.Add(time.Minute)))
	_, _, stop := interopMsg(t, "servent-leaf-query-status-stop.bin")
	assert.Equal(t, Actions{{Kind: Send, Link: 1, Msg: stop, Priority: Own}}, r.StopSearch(nil, g, t0.Add(2*time.Minute)))
}
