package transfer

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
)

// Seeds: inline here, plus the recorded gtk-gnutella and GnutellaBun
// exchanges copied into testdata/fuzz/Fuzz*/ (so a clean clone has them).

func FuzzRequest(f *testing.F) {
	f.Add([]byte("GET /get/3/alpha%20beta.txt HTTP/1.1\r\nHost: 127.0.0.1:6346\r\nRange: bytes=0-99\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("HEAD /uri-res/N2R?urn:sha1:CP3F6HSN2FRG2H27KAWWT2VOTFTYQ33N HTTP/1.0\n\n"))
	f.Add([]byte("GET /get/2/epsilon zeta.txt HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n"))
	f.Add([]byte("\r\n\r\nGET / HTTP/1.1\r\nRange: bytes=-5, 7-\r\n\r\n"))
	alpha := File{Index: 3, Name: "alpha beta.txt", Size: 41, SHA1: protocol.SHA1{1}}
	files := newMemFiles(alpha)
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := readRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if req.method == "" || req.target == "" || len(req.header) > maxHeaderLines {
			t.Fatalf("accepted a bad request: %+v", req)
		}
		if len(req.target) > maxLineLen {
			t.Fatalf("line limit not enforced: %d", len(req.target))
		}
		_ = req.keepAlive()
		c := &upConn{u: NewUploader(UploaderConfig{Files: files})}
		got, code, _ := c.lookup(req.target)
		if code == 200 && got != alpha {
			t.Fatalf("lookup %q served %+v", req.target, got)
		}
		if code == 200 && strings.HasPrefix(req.target, "/get/") && !strings.Contains(req.target, "alpha") {
			t.Fatalf("name check bypassed by %q", req.target)
		}
		for _, size := range []int64{0, 1, 41, 1 << 40} {
			r, ok, err := parseRange(req.header.Get("Range"), size)
			if ok && (err != nil || r.first < 0 || r.first > r.last || r.last >= size) {
				t.Fatalf("range %q size %d gave %+v", req.header.Get("Range"), size, r)
			}
		}
	})
}

func FuzzResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/3000\r\nContent-Length: 100\r\nX-Alt: 1.2.3.4:5, 6.7.8.9\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404 Not Found\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 503 Busy\r\nRetry-After: 60\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */3000\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := readResponse(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if resp.code < 100 || resp.code > 999 || len(resp.header) > maxHeaderLines {
			t.Fatalf("accepted a bad response: %+v", resp)
		}
		_ = resp.keepAlive()
		if r, total, err := parseContentRange(resp.header.Get("Content-Range")); err == nil {
			if r.first > r.last || (total >= 0 && r.last >= total) {
				t.Fatalf("content-range %q gave %+v/%d", resp.header.Get("Content-Range"), r, total)
			}
		}
		if alts, _ := httphdr.ParseAlt(resp.header.Get("X-Alt"), maxAltLocs); len(alts) > maxAltLocs {
			t.Fatalf("%d alt-locs", len(alts))
		}
		if n := parseRetryAfter(resp.header.Get("Retry-After"), 60); n < 0 {
			t.Fatalf("retry-after %d", n)
		}
	})
}

func FuzzGIV(f *testing.F) {
	f.Add([]byte("GIV 1:b0b0c11e47000000ff0000000000bb00/alpha beta.txt\n\n"))
	f.Add([]byte("GIV 1:53525654C0FFEE11FF2233445566AA00/file\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		line, err := ReadGIVLine(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		idx, guid, name, err := ParseGIV(line)
		if err != nil {
			return
		}
		again, err := ReadGIVLine(bufio.NewReader(bytes.NewReader(AppendGIV(nil, idx, guid, name))))
		if err != nil {
			t.Fatal(err)
		}
		idx2, guid2, _, err := ParseGIV(again)
		if err != nil || idx2 != idx || guid2 != guid {
			t.Fatalf("round trip %q -> %q", line, again)
		}
	})
}
