package transfer

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

type testSource struct {
	srv *testServer
	up  *Uploader
	src Source
}

// serveFile starts an uploader on ip sharing content as index 1; with
// corrupt, the bytes on disk differ from the advertised SHA-1.
func serveFile(t testing.TB, ip, name string, content []byte, rateLimit int, corrupt bool) *testSource {
	t.Helper()
	dir := t.TempDir()
	f := shareFile(t, dir, 1, name, content)
	if corrupt {
		bad := append([]byte(nil), content...)
		for i := 1000; i < len(bad); i += 100 << 10 {
			bad[i] ^= 0xff
		}
		require.NoError(t, os.WriteFile(f.Path, bad, 0o644))
	}
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), RateLimit: rateLimit, MaxUploadsPerIP: 4})
	srv := startServer(t, ip, up, nil)
	return &testSource{srv: srv, up: up, src: Source{Addr: srv.addr, Index: 1, Name: name}}
}

type dirs struct{ data, dl string }

func newDirs(t testing.TB) dirs {
	root := t.TempDir()
	return dirs{filepath.Join(root, "data"), filepath.Join(root, "downloads")}
}

func openManager(t testing.TB, d dirs, mod func(*ManagerConfig)) *Manager {
	t.Helper()
	cfg := ManagerConfig{DataDir: d.data, DownloadDir: d.dl, ChunkSize: 256 << 10, StallTimeout: 10 * time.Second,
		RetryBackoff: 20 * time.Millisecond}
	if os.Getenv("TRANSFER_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func waitDone(t testing.TB, m *Manager, sha protocol.SHA1) Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in, err := m.Wait(ctx, sha)
	require.NoError(t, err, "download state %+v", in)
	return in
}

// requireOnlyFile checks DownloadDir holds exactly the verified file and
// DataDir no leftovers.
func requireOnlyFile(t testing.TB, d dirs, in Info, content []byte) {
	t.Helper()
	require.Equal(t, StateComplete, in.State, in.Err)
	ents, err := os.ReadDir(d.dl)
	require.NoError(t, err)
	require.Len(t, ents, 1)
	require.Equal(t, filepath.Join(d.dl, ents[0].Name()), in.Path)
	got, err := os.ReadFile(in.Path)
	require.NoError(t, err)
	require.True(t, sha1.Sum(got) == sha1.Sum(content), "content differs")
	left, err := os.ReadDir(filepath.Join(d.data, partialDir))
	require.NoError(t, err)
	require.Empty(t, left)
}

func TestDownloadOneSource(t *testing.T) {
	content := randomBytes(t, 1<<20+12345)
	s := serveFile(t, "127.0.0.1", "one source.bin", content, 0, false)
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "one source.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	in := waitDone(t, m, sha)
	requireOnlyFile(t, d, in, content)
	require.Equal(t, "one source.bin", filepath.Base(in.Path))
	require.Equal(t, uint64(len(content)), s.up.BytesSent())
	require.Equal(t, []Info{in}, m.List())
}

func TestDownloadEmptyAndTinyFiles(t *testing.T) {
	for _, size := range []int{0, 1, 41} {
		content := randomBytes(t, size)
		s := serveFile(t, "127.0.0.1", "tiny.bin", content, 0, false)
		d := newDirs(t)
		m := openManager(t, d, nil)
		sha := protocol.SHA1(sha1.Sum(content))
		_, err := m.Start(sha, "../../tiny.bin", int64(size), []Source{s.src})
		require.NoError(t, err)
		in := waitDone(t, m, sha)
		requireOnlyFile(t, d, in, content)
		require.Equal(t, "tiny.bin", filepath.Base(in.Path)) // no path from the network
	}
}

// TestDownloadSwarmSourceVanishes: three sources of an 8 MiB file each
// serve part of it; one disappears half-way and the others finish it.
func TestDownloadSwarmSourceVanishes(t *testing.T) {
	content := randomBytes(t, 8<<20)
	var srcs []*testSource
	for _, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
		srcs = append(srcs, serveFile(t, ip, "swarm.bin", content, 2<<20, false))
	}
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "swarm.bin", int64(len(content)), []Source{srcs[0].src, srcs[1].src, srcs[2].src})
	require.NoError(t, err)
	var atClose int64
	require.Eventually(t, func() bool {
		in, _ := m.Get(sha)
		if in.Done < 4<<20 {
			return false
		}
		srcs[2].srv.Close() // the third source vanishes, connections and all
		atClose = in.Done
		return true
	}, 30*time.Second, time.Millisecond)
	require.Less(t, atClose, int64(len(content)), "finished before the source could vanish")
	in := waitDone(t, m, sha)
	requireOnlyFile(t, d, in, content)
	for i, s := range srcs {
		require.Positive(t, s.up.BytesSent(), "source %d served nothing", i)
	}
}

// TestDownloadCorruptSource: a fast source serves flipped bytes, slower
// honest ones serve the truth; the download completes from the honest
// ones, the liar is banned, and the corrupt file never reaches DownloadDir.
func TestDownloadCorruptSource(t *testing.T) {
	for _, honest := range []int{2, 1} {
		t.Run(strconv.Itoa(honest)+" honest", func(t *testing.T) {
			content := randomBytes(t, 4<<20)
			liar := serveFile(t, "127.0.0.22", "c.bin", content, 0, true)
			srcs := []Source{liar.src}
			for i := range honest {
				srcs = append(srcs, serveFile(t, "127.0.0.2"+strconv.Itoa(3+i), "c.bin", content, 8<<20, false).src)
			}
			d := newDirs(t)
			m := openManager(t, d, nil)
			sha := protocol.SHA1(sha1.Sum(content))
			_, err := m.Start(sha, "c.bin", int64(len(content)), srcs)
			require.NoError(t, err)
			in := waitDone(t, m, sha)
			requireOnlyFile(t, d, in, content)
			require.Positive(t, liar.up.BytesSent())
			require.Equal(t, 1, in.Banned)
			require.Equal(t, honest, in.Sources)
			m.mu.Lock()
			dl := m.downloads[sha]
			m.mu.Unlock()
			dl.mu.Lock()
			require.True(t, dl.banned[liar.src.key()])
			t.Logf("verification rounds: %d", dl.attempts)
			dl.mu.Unlock()
		})
	}
}

// TestDownloadOnlyLiar: a single source serving a wrong file is banned and
// nothing reaches DownloadDir; an honest source added later finishes it.
func TestDownloadOnlyLiar(t *testing.T) {
	content := randomBytes(t, 1<<20)
	liar := serveFile(t, "127.0.0.24", "l.bin", content, 0, true)
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "l.bin", int64(len(content)), []Source{liar.src})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		in, _ := m.Get(sha)
		return in.State == StateStalled && in.Banned == 1
	}, 30*time.Second, time.Millisecond)
	ents, err := os.ReadDir(d.dl)
	require.NoError(t, err)
	require.Empty(t, ents)
	good := serveFile(t, "127.0.0.25", "l.bin", content, 0, false)
	require.True(t, m.AddSources(sha, good.src, liar.src))
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
}

// TestDownloadResume: stop the Manager mid-file, open a new one on the
// same DataDir: it finishes without refetching the chunks on disk.
func TestDownloadResume(t *testing.T) {
	content := randomBytes(t, 8<<20)
	a := serveFile(t, "127.0.0.31", "r.bin", content, 2<<20, false)
	b := serveFile(t, "127.0.0.32", "r.bin", content, 2<<20, false)
	d := newDirs(t)
	sha := protocol.SHA1(sha1.Sum(content))
	m1, err := Open(ManagerConfig{DataDir: d.data, DownloadDir: d.dl, ChunkSize: 256 << 10})
	require.NoError(t, err)
	_, err = m1.Start(sha, "r.bin", int64(len(content)), []Source{a.src, b.src})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		in, _ := m1.Get(sha)
		return in.Done >= 2<<20
	}, 30*time.Second, time.Millisecond)
	require.NoError(t, m1.Close())
	st, err := readState(filepath.Join(d.data, partialDir, sha.Base32()+stateSuffix))
	require.NoError(t, err)
	var onDisk int64
	for i, o := range st.Owners {
		if o != "" {
			onDisk += min(st.ChunkSize, st.Size-int64(i)*st.ChunkSize)
		}
	}
	require.GreaterOrEqual(t, onDisk, int64(2<<20))
	require.Less(t, onDisk, int64(len(content)))
	// Wait for the old connections to end so the counters are final.
	require.Eventually(t, func() bool { return a.up.Active() == 0 && b.up.Active() == 0 }, 10*time.Second, time.Millisecond)
	before := a.up.BytesSent() + b.up.BytesSent()

	m2 := openManager(t, d, nil)
	in, ok := m2.Get(sha)
	require.True(t, ok)
	require.GreaterOrEqual(t, in.Done, onDisk)
	requireOnlyFile(t, d, waitDone(t, m2, sha), content)
	refetched := a.up.BytesSent() + b.up.BytesSent() - before
	missing := int64(len(content)) - onDisk
	require.GreaterOrEqual(t, int64(refetched), missing)
	// End game may fetch the last chunk twice (one per extra source).
	require.LessOrEqual(t, int64(refetched), missing+256<<10, "refetched chunks that were on disk")
}

func TestDownloadCancel(t *testing.T) {
	content := randomBytes(t, 4<<20)
	s := serveFile(t, "127.0.0.41", "x.bin", content, 8<<20, false)
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "x.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	require.NoError(t, m.Cancel(sha)) // returns once the files are gone
	_, ok := m.Get(sha)
	require.False(t, ok)
	left, err := os.ReadDir(filepath.Join(d.data, partialDir))
	require.NoError(t, err)
	require.Empty(t, left)
	require.ErrorIs(t, m.Cancel(sha), ErrUnknown)
	// Starting it again right away works from scratch.
	_, err = m.Start(sha, "x.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
}

// TestDownloadPush: the source accepts no connection at all; the Manager
// sends a Push, the source connects back with GIV and serves on it.
func TestDownloadPush(t *testing.T) {
	for _, pushFlag := range []bool{true, false} {
		t.Run(map[bool]string{true: "push flag", false: "unreachable"}[pushFlag], func(t *testing.T) {
			content := randomBytes(t, 1<<20+7)
			dir := t.TempDir()
			f := shareFile(t, dir, 77, "fw.bin", content)
			up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
			// An address nobody listens on.
			ln, err := net.Listen("tcp", "127.0.0.51:0")
			require.NoError(t, err)
			deadAddr := ln.Addr().String()
			ln.Close()
			guid := protocol.NewGUID()

			d := newDirs(t)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() { cancel(); wg.Wait() })
			var m *Manager
			var us *testServer
			pushes := make(chan Source, 10)
			m = openManager(t, d, func(c *ManagerConfig) {
				c.SendPush = func(src Source) error {
					pushes <- src
					wg.Add(1)
					go func() {
						defer wg.Done()
						var dl net.Dialer
						dial := func(ctx context.Context, n, a string) (net.Conn, error) {
							dl.LocalAddr = &net.TCPAddr{IP: net.ParseIP("127.0.0.51")}
							return dl.DialContext(ctx, n, a)
						}
						_ = ServeGIV(ctx, dial, us.addr.String(), src.Index, src.ServentGUID, "file", up)
					}()
					return nil
				}
			})
			us = startServer(t, "127.0.0.50", nil, m)
			sha := protocol.SHA1(sha1.Sum(content))
			src := Source{Addr: netipMust(deadAddr), Index: 77, Name: "fw.bin", ServentGUID: guid, Push: pushFlag}
			_, err = m.Start(sha, "fw.bin", int64(len(content)), []Source{src})
			require.NoError(t, err)
			requireOnlyFile(t, d, waitDone(t, m, sha), content)
			p := <-pushes
			require.Equal(t, guid, p.ServentGUID)
			require.Equal(t, uint32(77), p.Index)
			require.Equal(t, uint64(len(content)), up.BytesSent())
		})
	}
}

func TestGIVLine(t *testing.T) {
	raw := readInterop(t, "gnutella-bun-client/60-ultra-push-giv.giv.bin")
	line, err := ReadGIVLine(bufioReader(raw))
	require.NoError(t, err)
	idx, guid, name, err := ParseGIV(line)
	require.NoError(t, err)
	require.Equal(t, uint32(1), idx)
	require.Equal(t, "b0b0c11e47000000ff0000000000bb00", guid.String())
	require.Equal(t, "alpha beta.txt", name)
	require.Equal(t, raw, AppendGIV(nil, idx, guid, name))
	// gtk-gnutella's form: upper-case hex accepted, name ignored.
	_, g2, _, err := ParseGIV("GIV 1:53525654C0FFEE11FF2233445566AA00/file")
	require.NoError(t, err)
	require.Equal(t, "53525654c0ffee11ff2233445566aa00", g2.String())
	for _, bad := range []string{"GIV", "GIV x:53525654c0ffee11ff2233445566aa00/f", "GIV 1:zz/f", "GET / HTTP/1.1", "GIV 1/53525654c0ffee11ff2233445566aa00"} {
		_, _, _, err := ParseGIV(bad)
		require.Error(t, err, bad)
	}
}

// TestDownloadFromURNOnly: started with the urn and a source but no size,
// the Manager asks the size with HEAD, then downloads.
func TestDownloadFromURNOnly(t *testing.T) {
	content := randomBytes(t, 700<<10+3)
	s := serveFile(t, "127.0.0.1", "urn only.bin", content, 0, false)
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "", -1, []Source{{Addr: s.src.Addr}})
	require.NoError(t, err)
	in := waitDone(t, m, sha)
	requireOnlyFile(t, d, in, content)
	require.Equal(t, sha.Base32(), filepath.Base(in.Path)) // no name known: the urn
	require.Equal(t, int64(len(content)), in.Size)
}

// TestDownloadLearnsXAlt: the only source named gives another in X-Alt;
// the download uses both.
func TestDownloadLearnsXAlt(t *testing.T) {
	content := randomBytes(t, 4<<20)
	b := serveFile(t, "127.0.0.71", "mesh.bin", content, 4<<20, false)
	dir := t.TempDir()
	f := shareFile(t, dir, 1, "mesh.bin", content)
	upA := NewUploader(UploaderConfig{Files: newMemFiles(f), RateLimit: 4 << 20,
		AltLocs: func(protocol.SHA1) []netip.AddrPort { return []netip.AddrPort{b.src.Addr} }})
	srvA := startServer(t, "127.0.0.70", upA, nil)
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "mesh.bin", int64(len(content)), []Source{{Addr: srvA.addr}})
	require.NoError(t, err)
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
	require.Positive(t, upA.BytesSent())
	require.Positive(t, b.up.BytesSent())
	require.Contains(t, m.AltLocs(sha), b.src.Addr)
}

func TestSafeName(t *testing.T) {
	var sha protocol.SHA1
	for in, want := range map[string]string{
		"":                       sha.Base32(),
		"..":                     sha.Base32(),
		"../../etc/passwd":       "passwd",
		"..\\..\\boot.ini":       "boot.ini",
		"/abs/path/x.mp3":        "x.mp3",
		".hidden":                "hidden",
		"a\x00b\nc.txt":          "a_b_c.txt",
		"C:evil.txt":             "C_evil.txt",
		"ok name (1).ogg":        "ok name (1).ogg",
		strings.Repeat("é", 300): strings.Repeat("é", 100),
	} {
		require.Equal(t, want, safeName(in, sha), "%q", in)
	}
}

// TestDownloadShortRanges: like gtk-gnutella, the source answers a long
// Range with a shorter one (here 300 KiB, not on a chunk boundary); the
// download keeps the whole chunks, drops the tail and asks again.
func TestDownloadShortRanges(t *testing.T) {
	content := randomBytes(t, 3<<20+5)
	ln, err := net.Listen("tcp", "127.0.0.81:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := readRequest(br)
					if err != nil {
						return
					}
					r, _, err := parseRange(req.header.Get("Range"), int64(len(content)))
					if err != nil {
						return
					}
					r.last = min(r.last, r.first+300<<10-1)
					fmt.Fprintf(c, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n",
						r.first, r.last, len(content), r.length())
					if _, err := c.Write(content[r.first : r.last+1]); err != nil {
						return
					}
				}
			}()
		}
	}()
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err = m.Start(sha, "short.bin", int64(len(content)), []Source{{Addr: netipMust(ln.Addr().String())}})
	require.NoError(t, err)
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
}

// TestUnexpectedGIV: a GIV nobody asked for is closed at once.
func TestUnexpectedGIV(t *testing.T) {
	m := openManager(t, newDirs(t), nil)
	srv := startServer(t, "127.0.0.82", nil, m)
	c, err := net.Dial("tcp", srv.addr.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(AppendGIV(nil, 3, protocol.NewGUID(), "file"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

// TestDownloadSlowSource: a source trickling at 4 KiB/s holds a run of
// chunks; the fast source takes them over in the end game and the
// download completes without waiting for the slow one (which would need
// over a minute for its run).
func TestDownloadSlowSource(t *testing.T) {
	content := randomBytes(t, 4<<20)
	slow := serveFile(t, "127.0.0.91", "s.bin", content, 4<<10, false)
	// Fast, but not so fast that the download ends before the slow
	// source's first bytes (a race under load when uncapped).
	fast := serveFile(t, "127.0.0.92", "s.bin", content, 8<<20, false)
	d := newDirs(t)
	// A stall timeout longer than the test: only the end game can help.
	m := openManager(t, d, func(c *ManagerConfig) { c.StallTimeout = 5 * time.Minute })
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "s.bin", int64(len(content)), []Source{slow.src, fast.src})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := m.Wait(ctx, sha)
	require.NoError(t, err)
	requireOnlyFile(t, d, in, content)
	require.Positive(t, slow.up.BytesSent())
	require.Less(t, slow.up.BytesSent(), uint64(1<<20))
}

// TestFrozenClock: a Now far in the past (a node test's fake clock, or
// gtk-gnutella's lab clock) sets the Date header but never the socket
// deadlines.
func TestFrozenClock(t *testing.T) {
	past := func() time.Time { return time.Date(2024, 10, 26, 11, 34, 43, 0, time.UTC) }
	content := randomBytes(t, 600<<10)
	f := shareFile(t, t.TempDir(), 1, "clock.bin", content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), Now: past})
	srv := startServer(t, "127.0.0.93", up, nil)
	resp, _ := splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte("HEAD /get/1/clock.bin HTTP/1.1\r\nConnection: close\r\n\r\n")))
	require.Equal(t, "Sat, 26 Oct 2024 11:34:43 GMT", resp.header.Get("Date"))
	d := newDirs(t)
	m := openManager(t, d, func(c *ManagerConfig) { c.Now = past })
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "clock.bin", int64(len(content)), []Source{{Addr: srv.addr}})
	require.NoError(t, err)
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
}

// TestDownloadBusySource: a source answering 503 is retried after its
// Retry-After (here without one, as gtk-gnutella while it hashes its
// library: after RetryBackoff) and the download then completes.
func TestDownloadBusySource(t *testing.T) {
	content := randomBytes(t, 300<<10)
	f := shareFile(t, t.TempDir(), 1, "busy.bin", content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
	ln, err := net.Listen("tcp", "127.0.0.94:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if first {
				if _, err := readRequest(br); err == nil {
					_, _ = io.WriteString(c, "HTTP/1.1 503 Library being rebuilt\r\nConnection: close\r\n\r\n")
				}
				c.Close()
				continue
			}
			up.ServeConn(context.Background(), c, br)
		}
	}()
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err = m.Start(sha, "busy.bin", int64(len(content)), []Source{{Addr: netipMust(ln.Addr().String())}})
	require.NoError(t, err)
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
}
