package transfer

import (
	"context"
	"crypto/sha1"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/bwlimit"
)

var parqT0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// noCB: a request without X-Node.
var noCB netip.AddrPort

func ipN(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }

// TestParqQueue: the line behind full slots, on a fake clock.
func TestParqQueue(t *testing.T) {
	q := newParqQueue(8, 1, 30*time.Second)
	all := func(netip.Addr) bool { return true }
	// Slots full: three downloaders in order, each with an ID.
	var ids []string
	for i := 1; i <= 3; i++ {
		a := q.request(ipN(i), "f", "", noCB, false, all, parqT0)
		require.False(t, a.serve || a.refused)
		assert.Equal(t, i, a.pos)
		assert.Equal(t, time.Duration(30+15*(i-1))*time.Second, a.retry, "gtk-gnutella's 30 + 15 per place ahead")
		assert.Equal(t, a.retry+60*time.Second, a.lifetime)
		assert.Len(t, a.id, 32)
		ids = append(ids, a.id)
	}
	// One address, one place.
	assert.True(t, q.request(ipN(1), "other file", "", noCB, false, all, parqT0).refused)
	// Polling too soon changes nothing; three times loses the place.
	for range 2 {
		assert.Equal(t, 1, q.request(ipN(1), "f", ids[0], noCB, false, all, parqT0.Add(time.Second)).pos)
	}
	// 1 and 3 come back in time; 2 stops polling.
	now := parqT0.Add(70 * time.Second)
	assert.Equal(t, 1, q.request(ipN(1), "f", ids[0], noCB, false, all, now).pos)
	assert.Equal(t, 3, q.request(ipN(3), "f", ids[2], noCB, false, all, now).pos)
	// Past 2's lifetime (45 + 60 s, and 40 s of grace): it lost its place.
	now = parqT0.Add(150 * time.Second)
	assert.Equal(t, 1, q.request(ipN(1), "f", ids[0], noCB, false, all, now).pos)
	assert.Equal(t, 2, q.request(ipN(3), "f", ids[2], noCB, false, all, now).pos, "3 moved up")
	// A slot frees: not for 3, which is behind 1; 1 gets it, with its ID.
	now = now.Add(50 * time.Second)
	assert.False(t, q.request(ipN(3), "f", ids[2], noCB, true, all, now).serve)
	a := q.request(ipN(1), "f", ids[0], noCB, true, all, now)
	require.True(t, a.serve)
	assert.Equal(t, ids[0], a.id)
	// A place ahead whose address is at its own limit does not hold the
	// slot: a newcomer takes it.
	notThree := func(ip netip.Addr) bool { return ip != ipN(3) }
	assert.True(t, q.request(ipN(9), "g", "", noCB, true, notThree, now).serve)
	assert.False(t, q.request(ipN(10), "g", "", noCB, true, all, now).serve, "3 could take it")
	// 9, served a moment ago, asks for more of its file (a download in
	// several requests): it goes ahead of the line, as gtk-gnutella's
	// guard keeps it for 45 s; later it waits its turn.
	assert.True(t, q.request(ipN(9), "g", "", noCB, true, all, now.Add(30*time.Second)).serve)
	assert.False(t, q.request(ipN(9), "g", "", noCB, true, all, now.Add(30*time.Second+queueGuard)).serve)

	// The line's size.
	small := newParqQueue(2, 1, time.Second)
	assert.False(t, small.request(ipN(1), "f", "", noCB, false, all, parqT0).refused)
	assert.False(t, small.request(ipN(2), "f", "", noCB, false, all, parqT0).refused)
	assert.True(t, small.request(ipN(3), "f", "", noCB, false, all, parqT0).refused, "full")
	// Three polls too soon: the place is lost.
	hammer := newParqQueue(2, 1, 30*time.Second)
	id := hammer.request(ipN(1), "f", "", noCB, false, all, parqT0).id
	for range queueMaxEarly - 1 {
		assert.False(t, hammer.request(ipN(1), "f", id, noCB, false, all, parqT0).refused)
	}
	assert.True(t, hammer.request(ipN(1), "f", id, noCB, false, all, parqT0).refused)
	assert.Zero(t, hammer.Len(), "1 hammered and lost its place")
}

func TestParseXQueued(t *testing.T) {
	for in, want := range map[string]QueueStatus{
		// gtk-gnutella 1.2.3 in the lab (interop 53).
		"ID=9918ea15c00ca3bef71add0a984c56ce; position=1; lifetime=90; length=4; ETA=3145728": {ID: "9918ea15c00ca3bef71add0a984c56ce", Position: 1, Lifetime: 90, Length: 4, ETA: 3145728},
		"position=1; ID=9918EA15C00CA3BEF71ADD0A984C56CE":                                     {ID: "9918ea15c00ca3bef71add0a984c56ce", Position: 1},
		"ID=3b23475287c4af4dedc5e46992649950":                                                 {ID: "3b23475287c4af4dedc5e46992649950"},
		// The old X-Queue form (interop 53, an X-Queue: 0.1 client).
		"position=2, length=4, limit=1, pollMin=45, pollMax=105": {Position: 2, Length: 4, PollMin: 45, Lifetime: 105},
	} {
		got, err := ParseXQueued(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "ID=xyz", "nothing=1", "ID=9918ea15c00ca3bef71add0a984c56c"} {
		_, err := ParseXQueued(in)
		assert.Error(t, err, in)
	}
}

func FuzzParseXQueued(f *testing.F) {
	for _, s := range []string{
		"ID=9918ea15c00ca3bef71add0a984c56ce; position=1; lifetime=90; length=4; ETA=3145728",
		"position=2, length=4, limit=1, pollMin=45, pollMax=105", "position=-1;;;=", "ID=;position=99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseXQueued(s)
		if err != nil {
			return
		}
		require.True(t, q.ID != "" || q.Position > 0)
		require.True(t, q.ID == "" || len(q.ID) == 32)
		require.True(t, q.Position >= 0 && q.Lifetime >= 0 && q.ETA >= 0 && q.Length >= 0)
	})
}

// TestParqOurDownloaderAndUploader: one upload slot; B asks while A is
// being served, is queued first in line (its download shows the place),
// keeps its place by coming back in time, and is served when A is done.
func TestParqOurDownloaderAndUploader(t *testing.T) {
	content := randomBytes(t, 2<<20)
	f := shareFile(t, t.TempDir(), 1, "queued.bin", content)
	lim := new(bwlimit.Limiter)
	lim.Set(1 << 20) // A takes about two seconds
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploads: 1, Limiter: lim, QueuePollMin: time.Second})
	srv := startServer(t, "127.0.0.71", up, nil)
	src := []Source{{Addr: srv.addr, Index: 1, Name: "queued.bin"}}
	sha := protocol.SHA1(sha1.Sum(content))
	from := func(ip string) func(*ManagerConfig) {
		return func(c *ManagerConfig) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
			c.Dial = d.DialContext
			c.ChunkSize = 1 << 20
		}
	}
	da, db := newDirs(t), newDirs(t)
	a := openManager(t, da, from("127.0.0.72"))
	b := openManager(t, db, from("127.0.0.73"))
	queueBehind(t, up, a, b, sha, int64(len(content)), src)
	assert.Equal(t, 1, up.Queued())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ina, err := a.Wait(ctx, sha)
	require.NoError(t, err)
	requireOnlyFile(t, da, ina, content)
	inb, err := b.Wait(ctx, sha)
	require.NoError(t, err)
	requireOnlyFile(t, db, inb, content)
	assert.Zero(t, inb.QueuePosition)
	assert.Zero(t, up.Queued(), "B's place was spent when it was served")
}

// TestParqCallbacks: the QUEUE callback decisions, on a fake clock.
func TestParqCallbacks(t *testing.T) {
	all := func(netip.Addr) bool { return true }
	cb := func(i int) netip.AddrPort { return netip.AddrPortFrom(ipN(i), 6346) }
	q := newParqQueue(8, 1, 30*time.Second)
	id1 := q.request(ipN(1), "f", "", cb(1), false, all, parqT0).id
	q.request(ipN(2), "f", "", cb(2), false, all, parqT0)
	// An X-Node naming another host is not kept: no one makes us connect
	// to a third party.
	q.request(ipN(3), "f", "", cb(9), false, all, parqT0)
	assert.Empty(t, q.calls(false, all, parqT0), "no slot free, nobody lapsed")

	// A slot frees: the first in line is called, once.
	now := parqT0.Add(5 * time.Second)
	calls := q.calls(true, all, now)
	require.Equal(t, []queueCall{{id: id1, addr: cb(1)}}, calls)
	assert.Empty(t, q.calls(true, all, now), "a call is out")
	// Its request comes on the call, long before its Retry-After: not too
	// soon, and it takes the slot.
	a := q.request(ipN(1), "f", id1, noCB, true, all, now)
	require.True(t, a.serve)
	q.callDone(id1, now)

	// Next slot: 2 is called but never answers; a refusal, and another
	// call only after queueHostDelay.
	id2 := q.request(ipN(2), "f", "", noCB, false, all, now).id
	calls = q.calls(true, all, now)
	require.Equal(t, []queueCall{{id: id2, addr: cb(2)}}, calls)
	q.callDone(id2, now)
	assert.Empty(t, q.calls(true, all, now.Add(time.Second)), "one call per host per 12 s")
	now = now.Add(queueHostDelay)
	require.Len(t, q.calls(true, all, now), 1)
	q.callDone(id2, now)
	now = now.Add(queueHostDelay)
	assert.Empty(t, q.calls(true, all, now), "two refusals: no more calls (MAX_QUEUE_REFUSED)")

	// A place whose holder stops polling lapses instead of going, when it
	// left an X-Node: one more call; unanswered, it goes.
	lapse := newParqQueue(8, 1, 30*time.Second)
	id := lapse.request(ipN(1), "f", "", cb(1), false, all, parqT0).id
	lapse.request(ipN(2), "f", "", noCB, false, all, parqT0)
	now = parqT0.Add(200 * time.Second) // past 30 + 60 + 40 s
	calls = lapse.calls(false, all, now)
	require.Equal(t, []queueCall{{id: id, addr: cb(1)}}, calls)
	assert.Equal(t, 1, lapse.Len(), "2 (no X-Node) went; 1 waits for the call's answer")
	lapse.callDone(id, now)
	assert.Zero(t, lapse.Len(), "the call brought nobody: the place is gone")

	// A lapsed place whose holder answers the call is alive again.
	revive := newParqQueue(8, 1, 30*time.Second)
	id = revive.request(ipN(1), "f", "", cb(1), false, all, parqT0).id
	now = parqT0.Add(200 * time.Second)
	require.Len(t, revive.calls(false, all, now), 1)
	a = revive.request(ipN(1), "f", id, noCB, false, all, now)
	assert.Equal(t, 1, a.pos)
	revive.callDone(id, now)
	assert.Equal(t, 1, revive.Len())
}

func TestParseQUEUE(t *testing.T) {
	line := string(AppendQUEUE(nil, "9918ea15c00ca3bef71add0a984c56ce", netip.MustParseAddrPort("127.0.0.5:6348")))
	assert.Equal(t, "QUEUE 9918ea15c00ca3bef71add0a984c56ce 127.0.0.5:6348\r\n", line)
	got, err := ReadQUEUELine(bufioReader([]byte(line)))
	require.NoError(t, err)
	id, from, err := ParseQUEUE(got)
	require.NoError(t, err)
	assert.Equal(t, "9918ea15c00ca3bef71add0a984c56ce", id)
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.5:6348"), from)
	// gtk-gnutella goes on without the address.
	id, from, err = ParseQUEUE("QUEUE 9918EA15C00CA3BEF71ADD0A984C56CE")
	require.NoError(t, err)
	assert.Equal(t, "9918ea15c00ca3bef71add0a984c56ce", id)
	assert.False(t, from.IsValid())
	for _, bad := range []string{"QUEUE", "QUEUE xyz 1.2.3.4:5", "GIV 0:00/x", "QUEUE ID=9918ea15c00ca3bef71add0a984c56ce"} {
		_, _, err := ParseQUEUE(bad)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func FuzzParseQUEUE(f *testing.F) {
	f.Add("QUEUE 9918ea15c00ca3bef71add0a984c56ce 127.0.0.5:6348")
	f.Add("QUEUE 9918ea15c00ca3bef71add0a984c56ce")
	f.Add("QUEUE  ;position=1 [::1]:0")
	f.Fuzz(func(t *testing.T, s string) {
		id, from, err := ParseQUEUE(s)
		if err != nil {
			return
		}
		require.Len(t, id, 32)
		require.True(t, !from.IsValid() || from.Port() != 0)
	})
}

// TestParqQueueCallback: one slot, B queued behind A with a Retry-After
// of a minute; when A is done the uploader calls B back (QUEUE to its
// X-Node) and B is served on that connection, long before it would have
// come back by itself.
func TestParqQueueCallback(t *testing.T) {
	content := randomBytes(t, 2<<20)
	f := shareFile(t, t.TempDir(), 1, "queued.bin", content)
	lim := new(bwlimit.Limiter)
	lim.Set(1 << 20) // A takes about two seconds
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.74")}, Timeout: 5 * time.Second}
	var upAddr netip.AddrPort
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploads: 1, Limiter: lim, QueuePollMin: time.Minute,
		CallbackDial: dialer.DialContext, ListenAddr: func() netip.AddrPort { return upAddr }})
	srv := startServer(t, "127.0.0.74", up, nil)
	upAddr = srv.addr
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); up.RunCallbacks(ctx) }()
	defer func() { cancel(); <-done }()

	src := []Source{{Addr: srv.addr, Index: 1, Name: "queued.bin"}}
	sha := protocol.SHA1(sha1.Sum(content))
	from := func(ip string, self func() netip.AddrPort) func(*ManagerConfig) {
		return func(c *ManagerConfig) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
			c.Dial = d.DialContext
			c.ChunkSize = 1 << 20
			c.CallbackAddr = self
		}
	}
	da, db := newDirs(t), newDirs(t)
	a := openManager(t, da, from("127.0.0.75", nil))
	var bAddr netip.AddrPort
	b := openManager(t, db, from("127.0.0.76", func() netip.AddrPort { return bAddr }))
	bAddr = startServer(t, "127.0.0.76", nil, b).addr
	queueBehind(t, up, a, b, sha, int64(len(content)), src)
	// B's Retry-After is a minute; the test's deadline is 40 s.
	inb, err := b.Wait(ctx, sha)
	require.NoError(t, err, "B was served on the QUEUE callback")
	requireOnlyFile(t, db, inb, content)
	sent, answered := up.Callbacks()
	assert.GreaterOrEqual(t, sent, uint64(1))
	assert.GreaterOrEqual(t, answered, uint64(1))
}

// TestGTKGQueuedRequest replays gtk-gnutella 1.2.3's second request to
// our uploader in the lab, queued: its place ID and its X-Node give the
// QUEUE call we then sent it (and it answered on its kept connection,
// "[PARQ DL] Watch it! Download already running", then was served).
func TestGTKGQueuedRequest(t *testing.T) {
	raw, err := os.ReadFile("testdata/interop/lab-gtkg-queued-request.bin")
	require.NoError(t, err)
	req, err := readRequest(bufioReader(raw))
	require.NoError(t, err)
	qs, err := ParseXQueued(req.header.Get("X-Queued"))
	require.NoError(t, err)
	assert.Equal(t, QueueStatus{ID: "38d12c412c7f0620bfdcecf358e3aaf5", Position: 1}, qs)
	node := xNode(req.header)
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.12:6346"), node)
	gtkg := netip.MustParseAddr("127.0.0.12")
	q := newParqQueue(8, 1, 30*time.Second)
	id := q.request(gtkg, "f", "", node, false, nil, parqT0).id
	assert.Equal(t, []queueCall{{id: id, addr: node}}, q.calls(true, nil, parqT0.Add(40*time.Second)))
	assert.Equal(t, "QUEUE "+id+" 127.0.0.10:6346\r\n", string(AppendQUEUE(nil, id, netip.MustParseAddrPort("127.0.0.10:6346"))))
}

// queueBehind starts a's download, then b's once a holds the one slot,
// and waits until b is first in line.
func queueBehind(t *testing.T, up *Uploader, a, b *Manager, sha protocol.SHA1, size int64, src []Source) {
	t.Helper()
	_, err := a.Start(sha, "queued.bin", size, src)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return up.Active() == 1 }, 5*time.Second, time.Millisecond)
	_, err = b.Start(sha, "queued.bin", size, src)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		in, _ := b.Get(sha)
		return in.QueuePosition == 1
	}, 5*time.Second, time.Millisecond, "B is first in line")
}
