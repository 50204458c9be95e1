package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/servent/servent/protocol"
)

// persisted is the state file of one download (JSON, written to a temp
// name and renamed over the old one).
type persisted struct {
	SHA1      string         `json:"sha1"`
	Name      string         `json:"name"`
	Size      int64          `json:"size"`
	ChunkSize int64          `json:"chunk_size"`
	Owners    []string       `json:"owners"` // per chunk: source key that served it, "" = not done
	Sources   []persistedSrc `json:"sources"`
	Banned    []string       `json:"banned,omitempty"`
	Attempts  int            `json:"attempts,omitempty"`
	Failed    string         `json:"failed,omitempty"`
	TTH       string         `json:"tth,omitempty"` // the Tiger tree root expected, base32
}

type persistedSrc struct {
	Addr  string `json:"addr"`
	Index uint32 `json:"index,omitempty"`
	Name  string `json:"name,omitempty"`
	GUID  string `json:"guid,omitempty"`
	Push  bool   `json:"push,omitempty"`
	// Proxies are the push proxies of a firewalled source, "ip:port" each.
	Proxies []string `json:"proxies,omitempty"`
}

// maxStateFile bounds what we read back (a 4 GiB file in 512 KiB chunks
// with long keys stays far below).
const maxStateFile = 16 << 20

func toPersisted(s Source) persistedSrc {
	p := persistedSrc{Index: s.Index, Name: s.Name, Push: s.Push}
	if s.Addr.IsValid() {
		p.Addr = s.Addr.String()
	}
	if !s.ServentGUID.IsZero() {
		p.GUID = s.ServentGUID.String()
	}
	for _, a := range s.Proxies {
		p.Proxies = append(p.Proxies, a.String())
	}
	return p
}

func (p persistedSrc) source() (Source, bool) {
	s := Source{Index: p.Index, Name: p.Name, Push: p.Push}
	if p.Addr != "" {
		a, err := netip.ParseAddrPort(p.Addr)
		if err != nil {
			return s, false
		}
		s.Addr = a
	}
	if p.GUID != "" {
		g, err := protocol.ParseGUID(p.GUID)
		if err != nil {
			return s, false
		}
		s.ServentGUID = g
	}
	// A bad proxy entry is dropped, not the source: it is only a hint.
	for _, v := range p.Proxies[:min(len(p.Proxies), protocol.MaxPushProxies)] {
		if a, err := netip.ParseAddrPort(v); err == nil {
			s.Proxies = append(s.Proxies, a)
		}
	}
	return s, s.Addr.IsValid() || (s.Push && !s.ServentGUID.IsZero())
}

func loadStates(dir string) ([]*persisted, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("transfer: read queue: %w", err)
	}
	var out []*persisted
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), stateSuffix) || !e.Type().IsRegular() {
			continue
		}
		st, err := readState(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // a broken state file is skipped, not fatal
		}
		out = append(out, st)
	}
	return out, nil
}

func readState(path string) (*persisted, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, sha, err := decodeState(f)
	if err != nil {
		return nil, fmt.Errorf("transfer: state %s: %w", path, err)
	}
	if base := filepath.Base(path); base != sha.Base32()+stateSuffix {
		return nil, fmt.Errorf("transfer: state %s: file name does not match its urn", path)
	}
	return st, nil
}

// maxChunks bounds the chunk table of one download: 1 TiB (MaxFileSize) in
// 256 KiB chunks. The default 512 KiB chunks stay at half of it.
const maxChunks = 1 << 22

// decodeState reads and checks one state file: at most maxStateFile bytes,
// a urn, a size we download, and a chunk table that fits in maxChunks
// whatever size the sources turn out to report.
func decodeState(r io.Reader) (*persisted, protocol.SHA1, error) {
	st := &persisted{}
	dec := json.NewDecoder(&limitedReader{r, maxStateFile})
	if err := dec.Decode(st); err != nil {
		return nil, protocol.SHA1{}, err
	}
	sha, err := protocol.ParseSHA1Base32(st.SHA1)
	if err != nil {
		return nil, protocol.SHA1{}, err
	}
	switch {
	case st.Size < -1 || st.Size > MaxFileSize:
		return nil, sha, fmt.Errorf("size %d out of range", st.Size)
	case st.ChunkSize <= 0:
		return nil, sha, fmt.Errorf("chunk size %d", st.ChunkSize)
	case numChunks(MaxFileSize, st.ChunkSize) > maxChunks && (st.Size < 0 || numChunks(st.Size, st.ChunkSize) > maxChunks):
		return nil, sha, fmt.Errorf("chunk size %d makes over %d chunks", st.ChunkSize, maxChunks)
	case len(st.Owners) != 0 && (st.Size < 0 || len(st.Owners) != numChunks(st.Size, st.ChunkSize)):
		return nil, sha, errors.New("chunk owners do not match the size")
	}
	return st, sha, nil
}

type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("state file larger than %d bytes", maxStateFile)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func numChunks(size, chunk int64) int {
	if size <= 0 {
		return 0
	}
	return int((size + chunk - 1) / chunk)
}

// safeName turns a name from the network into a plain file name: no
// directories, no leading dot, no control characters, bounded length.
func safeName(name string, sha protocol.SHA1) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = filepath.Base("/" + name)
	if name == "/" || name == "." || name == ".." {
		name = ""
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == ':' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	for len(name) > 200 {
		_, sz := lastRune(name)
		name = name[:len(name)-sz]
	}
	if name == "" {
		return sha.Base32()
	}
	return name
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0 && i >= len(s)-4; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}
