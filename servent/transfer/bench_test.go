package transfer

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
	"github.com/servent/servent/servent/bwlimit"
)

// benchSize can be lowered with TRANSFER_BENCH_MIB when disk is tight.
func benchSize(def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv("TRANSFER_BENCH_MIB"), 10, 64); err == nil && v > 0 {
		return v << 20
	}
	return def
}

// bigFile writes size bytes (a random 1 MiB block repeated) and returns
// the file with its SHA-1.
func bigFile(b *testing.B, dir string, size int64) File {
	b.Helper()
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	p := filepath.Join(dir, "big.bin")
	f, err := os.Create(p)
	require.NoError(b, err)
	h := sha1.New()
	w := bufio.NewWriterSize(f, 4<<20)
	for left := size; left > 0; left -= int64(len(block)) {
		chunk := block[:min(left, int64(len(block)))]
		_, _ = w.Write(chunk)
		h.Write(chunk)
	}
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
	var s protocol.SHA1
	h.Sum(s[:0])
	return File{Index: 1, Path: p, Name: "big.bin", Size: size, SHA1: s}
}

// BenchmarkUpload compares the Uploader (request parsing, headers, then
// sendfile) with a bare io.Copy from the *os.File to the *net.TCPConn, on
// the same file over loopback. The client reads into io.Discard.
func BenchmarkUpload(b *testing.B) {
	size := benchSize(1 << 30)
	f := bigFile(b, b.TempDir(), size)
	b.Run("uploader", func(b *testing.B) {
		up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
		srv := startServer(b, "127.0.0.1", up, nil)
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			getWhole(b, srv.addr, size)
		}
	})
	b.Run("io.Copy", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		var wg sync.WaitGroup
		defer func() { ln.Close(); wg.Wait() }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fh, err := os.Open(f.Path)
				if err == nil {
					_, _ = io.Copy(c, fh)
					fh.Close()
				}
				c.Close()
			}
		}()
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(b, err)
			n, err := io.Copy(io.Discard, bufio.NewReaderSize(c, 64<<10))
			require.NoError(b, err)
			require.Equal(b, size, n)
			c.Close()
		}
	})
}

// BenchmarkUploadRatio alternates the two paths of BenchmarkUpload inside
// each iteration, so both see the same machine load (the host is shared),
// and reports uploader/io.Copy throughput as "ratio".
func BenchmarkUploadRatio(b *testing.B) {
	size := benchSize(1 << 30)
	f := bigFile(b, b.TempDir(), size)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
	srv := startServer(b, "127.0.0.1", up, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	var wg sync.WaitGroup
	defer func() { ln.Close(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if fh, err := os.Open(f.Path); err == nil {
				_, _ = io.Copy(c, fh)
				fh.Close()
			}
			c.Close()
		}
	}()
	fetch := func(addr, req string) time.Duration {
		start := time.Now()
		c, err := net.Dial("tcp", addr)
		require.NoError(b, err)
		defer c.Close()
		br := bufio.NewReaderSize(c, 64<<10)
		if req != "" {
			_, err = io.WriteString(c, req)
			require.NoError(b, err)
			_, err := readResponse(br)
			require.NoError(b, err)
		}
		n, err := io.Copy(io.Discard, br)
		require.NoError(b, err)
		require.Equal(b, size, n)
		return time.Since(start)
	}
	var tUp, tCopy time.Duration
	b.ReportAllocs()
	b.SetBytes(2 * size)
	for b.Loop() {
		tUp += fetch(srv.addr.String(), "GET /uri-res/N2R?"+f.SHA1.URN()+" HTTP/1.1\r\nConnection: close\r\n\r\n")
		tCopy += fetch(ln.Addr().String(), "")
	}
	b.ReportMetric(float64(tCopy)/float64(tUp), "ratio")
	b.ReportMetric(float64(size)*float64(b.N)/tUp.Seconds()/1e6, "uploader-MB/s")
	b.ReportMetric(float64(size)*float64(b.N)/tCopy.Seconds()/1e6, "io.Copy-MB/s")
}

// BenchmarkDownload measures a whole download (ranged GETs, writes to the
// partial file, whole-file SHA-1, rename) from one and from three sources.
func BenchmarkDownload(b *testing.B) {
	size := benchSize(256 << 20)
	f := bigFile(b, b.TempDir(), size)
	// Baseline: one plain GET of the whole file written to disk through a
	// SHA-1 (no chunks, no state, no rename): what a single stream costs.
	b.Run("baseline-GET+sha1", func(b *testing.B) {
		up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
		srv := startServer(b, "127.0.0.59", up, nil)
		out := filepath.Join(b.TempDir(), "out.bin")
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			c, err := net.Dial("tcp", srv.addr.String())
			require.NoError(b, err)
			_, err = io.WriteString(c, "GET /get/1/big.bin HTTP/1.1\r\nConnection: close\r\n\r\n")
			require.NoError(b, err)
			br := bufio.NewReaderSize(c, 64<<10)
			_, err = readResponse(br)
			require.NoError(b, err)
			fh, err := os.Create(out)
			require.NoError(b, err)
			h := sha1.New()
			n, err := io.Copy(io.MultiWriter(fh, h), br)
			require.NoError(b, err)
			require.Equal(b, size, n)
			require.NoError(b, fh.Close())
			require.Equal(b, f.SHA1[:], h.Sum(nil))
			c.Close()
		}
	})
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("sources=%d", n), func(b *testing.B) {
			var srcs []Source
			for i := range n {
				up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
				srv := startServer(b, fmt.Sprintf("127.0.0.%d", 60+i), up, nil)
				srcs = append(srcs, Source{Addr: srv.addr, Index: 1, Name: f.Name})
			}
			benchDownloads(b, f, srcs, nil)
		})
	}
}

// benchDownloads downloads f from srcs b.N times (each file removed and
// forgotten between), checking each finished Info with check.
func benchDownloads(b *testing.B, f File, srcs []Source, check func(Info)) {
	m := openManager(b, newDirs(b), func(c *ManagerConfig) { c.ChunkSize = benchChunk() })
	b.ReportAllocs()
	b.SetBytes(f.Size)
	for b.Loop() {
		_, err := m.Start(f.SHA1, f.Name, f.Size, srcs)
		require.NoError(b, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		in, err := m.Wait(ctx, f.SHA1)
		cancel()
		require.NoError(b, err)
		require.Equal(b, StateComplete, in.State, in.Err)
		if check != nil {
			check(in)
		}
		b.StopTimer()
		require.NoError(b, os.Remove(in.Path))
		require.NoError(b, m.Cancel(f.SHA1))
		b.StartTimer()
	}
}

// benchChunk is the download chunk size (TRANSFER_BENCH_CHUNK_KIB, default 1 MiB).
func benchChunk() int64 {
	if v, err := strconv.ParseInt(os.Getenv("TRANSFER_BENCH_CHUNK_KIB"), 10, 64); err == nil && v > 0 {
		return v << 10
	}
	return 1 << 20
}

// BenchmarkUploadCapped is BenchmarkUpload's uploader path with the upload
// cap off (sendfile) and at 40 MiB/s (capped pieces through the token
// bucket), on the same 64 MiB file in the same run: the capped MB/s
// should sit at the cap, the uncapped one far above.
func BenchmarkUploadCapped(b *testing.B) {
	size := benchSize(64 << 20)
	f := bigFile(b, b.TempDir(), size)
	for _, c := range []struct {
		name string
		cap  int64
	}{{"uncapped", 0}, {"capped-40MiB", 40 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			lim := new(bwlimit.Limiter)
			lim.Set(c.cap)
			up := NewUploader(UploaderConfig{Files: newMemFiles(f), Limiter: lim})
			srv := startServer(b, "127.0.0.1", up, nil)
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				getWhole(b, srv.addr, size)
			}
		})
	}
}

// getWhole fetches /get/1/big.bin from addr and checks its length.
func getWhole(b *testing.B, addr netip.AddrPort, size int64) {
	c, err := net.Dial("tcp", addr.String())
	require.NoError(b, err)
	defer c.Close()
	readWhole(b, c, size)
}

// readWhole asks /get/1/big.bin on c and reads it, checking its length.
func readWhole(b *testing.B, c net.Conn, size int64) {
	_, err := io.WriteString(c, "GET /get/1/big.bin HTTP/1.1\r\nConnection: close\r\n\r\n")
	require.NoError(b, err)
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := readResponse(br)
	require.NoError(b, err)
	require.Equal(b, 200, resp.code)
	n, err := io.Copy(io.Discard, br)
	require.NoError(b, err)
	require.Equal(b, size, n)
}

// BenchmarkDownloadTree is one source on loopback, the same file in the
// same run, without and with the Tiger tree: with it the download fetches
// the tree and checks every chunk as it arrives (Tiger over every byte
// on top of the SHA-1).
func BenchmarkDownloadTree(b *testing.B) {
	size := benchSize(128 << 20)
	f := bigFile(b, b.TempDir(), size)
	fh, err := os.Open(f.Path)
	require.NoError(b, err)
	h := thex.New()
	_, err = io.Copy(h, fh)
	require.NoError(b, err)
	fh.Close()
	tree := h.Tree()
	for i, name := range []string{"unchecked", "tree-checked"} {
		b.Run(name, func(b *testing.B) {
			cfg := UploaderConfig{Files: newMemFiles(f)}
			if i == 1 {
				cfg.Trees = func(protocol.SHA1) (*thex.Tree, bool) { return tree, true }
			}
			srv := startServer(b, fmt.Sprintf("127.0.0.%d", 66+i), NewUploader(cfg), nil)
			benchDownloads(b, f, []Source{{Addr: srv.addr, Index: 1, Name: f.Name}}, func(in Info) {
				require.Equal(b, i == 1, in.TreeChecked)
			})
		})
	}
}

// BenchmarkUploadTLS is BenchmarkUpload's uploader path on the same file
// over plain TCP (sendfile), over TLS (the *tls.Conn as the node hands it
// one: AES-GCM in userspace, through the 256 KiB copy buffer) and over TLS
// with io.Copy's 32 KiB buffer (the copy before the large one, for
// comparison). The client reads into io.Discard, over TLS decrypting, on
// the other core. "alternated" runs the three in each iteration, so they
// see the same machine load, and reports tls over plain throughput as
// "ratio" and tls over tls-32k as "gain".
func BenchmarkUploadTLS(b *testing.B) {
	size := benchSize(256 << 20)
	f := bigFile(b, b.TempDir(), size)
	srvCfg, cliCfg := testTLS(b)
	newUp := func() *Uploader { return NewUploader(UploaderConfig{Files: newMemFiles(f)}) }
	paths := []struct {
		name string
		addr netip.AddrPort
		tls  bool
	}{
		{"plain", startServer(b, "127.0.0.1", newUp(), nil).addr, false},
		{"tls", startTLSServer(b, srvCfg, newUp(), nil).addr, true},
		{"tls-32k", startTLSServer(b, srvCfg, newUp(), func(tc *tls.Conn) net.Conn { return copy32k{tc} }).addr, true},
	}
	fetch := func(b *testing.B, addr netip.AddrPort, overTLS bool) time.Duration {
		start := time.Now()
		var c net.Conn
		var err error
		if overTLS {
			c, err = dialTLS(context.Background(), cliCfg, "tcp", addr.String())
		} else {
			c, err = net.Dial("tcp", addr.String())
		}
		require.NoError(b, err)
		defer c.Close()
		readWhole(b, c, size)
		return time.Since(start)
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				fetch(b, p.addr, p.tls)
			}
		})
	}
	b.Run("alternated", func(b *testing.B) {
		var took [3]time.Duration
		b.SetBytes(int64(len(paths)) * size)
		for b.Loop() {
			for i, p := range paths {
				took[i] += fetch(b, p.addr, p.tls)
			}
		}
		for i, p := range paths {
			b.ReportMetric(float64(size)*float64(b.N)/took[i].Seconds()/1e6, p.name+"-MB/s")
		}
		b.ReportMetric(float64(took[0])/float64(took[1]), "ratio")
		b.ReportMetric(float64(took[2])/float64(took[1]), "gain")
	})
}

// copy32k gives the *tls.Conn the ReadFrom the uploader looks for, which
// copies as io.Copy did to the bare *tls.Conn before the large buffer:
// 32 KiB file reads and Writes.
type copy32k struct{ *tls.Conn }

func (c copy32k) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
