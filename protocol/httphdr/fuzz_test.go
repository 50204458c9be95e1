package httphdr

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// interopValues is every value of the named headers in the captures under
// testdata/interop: the fuzz seeds.
func interopValues(f *testing.F, names ...string) []string {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "interop", "*.bin"))
	require.NoError(f, err)
	require.NotEmpty(f, files)
	var out []string
	for _, name := range files {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		var h http.Header
		if bytes.HasPrefix(data, []byte("HTTP/")) {
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
			require.NoError(f, err, name)
			h = resp.Header
		} else {
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
			require.NoError(f, err, name)
			h = req.Header
		}
		for _, n := range names {
			for _, v := range h.Values(n) {
				if !slices.Contains(out, v) {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// checkErr: a refusal is one of the package's errors, one bounded line.
func checkErr(t *testing.T, err error) {
	require.True(t, errors.Is(err, ErrTooLong) || errors.Is(err, ErrMalformed), "%v", err)
	require.Less(t, len(err.Error()), 300)
	for _, r := range err.Error() {
		require.False(t, r < 0x20 || r == 0x7f, "control character in %q", err.Error())
	}
}

// FuzzXAlt: X-Alt and X-Nalt from any peer: no panic, at most MaxItems
// valid entries, each address once; the written form reads back the same
// (X-Nalt's without the TLS marks).
func FuzzXAlt(f *testing.F) {
	for _, v := range interopValues(f, "X-Alt", "X-Nalt") {
		f.Add(v, 0)
	}
	f.Add("tls=A5, 1.2.3.4, [2001:db8::1]:6347, 2001:db8::2, 1.2.3.4:6346;5.6.7.8:1", 3)
	f.Add(" , tls=8,[::ffff:1.2.3.4]:0,010.0.0.1:06346", -1)
	f.Fuzz(func(t *testing.T, v string, limit int) {
		got, err := ParseAlt(v, limit)
		if err != nil {
			checkErr(t, err)
			require.Nil(t, got)
			return
		}
		require.LessOrEqual(t, len(got), limitOf(limit))
		for i, a := range got {
			require.True(t, writable(a.Addr), "%v", a)
			require.False(t, a.Addr.Addr().Is4In6(), "%v", a)
			for _, b := range got[:i] {
				require.NotEqual(t, a.Addr, b.Addr)
			}
		}
		out := FormatAlt(got)
		again, err := ParseAlt(out, 0)
		require.NoError(t, err)
		require.Equal(t, got, again, "%q from %q", out, v)
		require.Equal(t, out, FormatAlt(again))

		nalt, err := ParseAlt(FormatNalt(got), 0)
		require.NoError(t, err)
		require.Len(t, nalt, len(got))
		for i := range got {
			require.Equal(t, got[i].Addr, nalt[i].Addr)
		}
	})
}

// FuzzXFalt: X-Falt from any peer: no panic, bounded entries and proxies,
// one entry per GUID; the written form reads back the same when it fits
// in MaxValueLen (writing can lengthen a token: "fwt/" becomes "fwt/1").
func FuzzXFalt(f *testing.F) {
	for _, v := range interopValues(f, "X-Falt") {
		f.Add(v, 0)
	}
	f.Add(dmeshFalt, 0)
	f.Add("9dbc52eeebca2c8a79036d626b959900;6346:[2001:db8::1];pptls=4;[2001:db8::2]:7;1.2.3.4:5;2010-02-23 16:06:55Z, 0123456789abcdef0123456789abcdef", 1)
	f.Fuzz(func(t *testing.T, v string, limit int) {
		got, err := ParseFalt(v, limit)
		if err != nil {
			checkErr(t, err)
			require.Nil(t, got)
			return
		}
		require.LessOrEqual(t, len(got), limitOf(limit))
		for i, e := range got {
			require.LessOrEqual(t, len(e.Proxies), MaxProxies)
			require.True(t, !e.Addr.IsValid() || writable(e.Addr), "%v", e.Addr)
			for _, p := range e.Proxies {
				require.True(t, writable(p.Addr), "%v", p)
			}
			for _, o := range got[:i] {
				require.NotEqual(t, e.GUID, o.GUID)
			}
		}
		out := FormatFalt(got)
		if len(out) > MaxValueLen {
			return
		}
		again, err := ParseFalt(out, 0)
		require.NoError(t, err)
		require.Equal(t, got, again, "%q from %q", out, v)
		require.Equal(t, out, FormatFalt(again))
	})
}

// FuzzAvailableRanges: X-Available-Ranges from any server, for any file
// size: no panic; sorted, disjoint, non-adjacent ranges inside the file, at
// most MaxRanges; the written form reads back the same; the helpers agree
// with the set.
func FuzzAvailableRanges(f *testing.F) {
	for _, v := range interopValues(f, "X-Available-Ranges", "Range", "Content-Range") {
		f.Add(v, int64(1500000), int64(1400000))
	}
	f.Add("bytes 20-30,0-10,25-40,11-12, bytes=5-, -3, 9-5", int64(100), int64(11))
	f.Add("bytes 9223372036854775806-", int64(1<<63-1), int64(0))
	f.Add("bytes", int64(1), int64(-1))
	f.Fuzz(func(t *testing.T, v string, size, off int64) {
		rs, err := ParseAvailableRanges(v, size)
		if err != nil {
			checkErr(t, err)
			require.Nil(t, rs)
			return
		}
		require.LessOrEqual(t, len(rs), MaxRanges)
		var total int64
		for i, r := range rs {
			require.True(t, 0 <= r.First && r.First <= r.Last && r.Last < size, "%v of %d", r, size)
			if i > 0 {
				require.Greater(t, r.First, rs[i-1].Last+1, "%v", rs)
			}
			total += r.Len()
			require.True(t, rs.Contains(r.First, r.Last))
			if r.First > 0 {
				require.False(t, rs.Contains(r.First-1, r.First-1), "ranges are merged")
			}
		}
		require.Equal(t, total, rs.Total())

		out := FormatAvailableRanges(rs)
		require.LessOrEqual(t, len(out), MaxValueLen)
		if len(rs) > 0 {
			again, err := ParseAvailableRanges(out, size)
			require.NoError(t, err)
			require.Equal(t, rs, again, "%q from %q", out, v)
		}

		next, ok := rs.Next(off)
		largest, ok2 := rs.Largest(off)
		require.Equal(t, ok, ok2)
		if ok {
			require.GreaterOrEqual(t, next.First, off)
			require.True(t, rs.Contains(next.First, next.Last))
			require.True(t, rs.Contains(largest.First, largest.Last))
			require.GreaterOrEqual(t, largest.First, off)
			require.GreaterOrEqual(t, largest.Len(), next.Len())
			require.LessOrEqual(t, next.First, largest.First)
		} else if len(rs) > 0 {
			require.Less(t, rs[len(rs)-1].Last, off)
		}
	})
}

// FuzzAvailable: X-Available ("bytes <n>") reads back the same.
func FuzzAvailable(f *testing.F) {
	for _, v := range interopValues(f, "X-Available") {
		f.Add(v)
	}
	f.Add(" Bytes\t7 ")
	f.Fuzz(func(t *testing.T, v string) {
		n, err := ParseAvailable(v)
		if err != nil {
			checkErr(t, err)
			return
		}
		require.GreaterOrEqual(t, n, int64(0))
		again, err := ParseAvailable(string(AppendAvailable(nil, n)))
		require.NoError(t, err)
		require.Equal(t, n, again)
	})
}

// FuzzXNode: X-Node, X-Node-IPv6, X-Listen-IP read back the same.
func FuzzXNode(f *testing.F) {
	for _, v := range interopValues(f, "X-Node", "X-Node-Ipv6", "X-Listen-Ip", "Host") {
		f.Add(v)
	}
	f.Add("[2001:db8::1]:6346")
	f.Add("[::ffff:1.2.3.4]:0006346")
	f.Fuzz(func(t *testing.T, v string) {
		ap, err := ParseNode(v)
		if err != nil {
			checkErr(t, err)
			return
		}
		require.True(t, writable(ap))
		out := string(AppendNode(nil, ap))
		again, err := ParseNode(out)
		require.NoError(t, err)
		require.Equal(t, ap, again)
		_, err6 := ParseNodeIPv6(v)
		require.Equal(t, ap.Addr().Is6(), err6 == nil)
	})
}

// FuzzAltLocations: the old alternate-location headers: no panic, bounded,
// no repeats, every location an address and an N2R SHA-1 or a /get/ name.
func FuzzAltLocations(f *testing.F) {
	f.Add("http://1.2.3.4:6346/uri-res/N2R?urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC 2002-06-17T07:53:14Z, \"http://1.2.3.5/get/7/a,b%20c.txt\" Mon, 17 Jun 2002 07:53:14 +0200", 0)
	f.Add("HTTP://[2001:db8::1]:7/uri-res/N2R?urn:bitprint:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC.VQWEVLI5CZLO25BLCGKT5TI75RCYAISG5C5EKUI 2002-06-17T07:53:14Zhttp://1.2.3.7:2/get/3/x", 1)
	f.Fuzz(func(t *testing.T, v string, limit int) {
		got, err := ParseAltLocations(v, limit)
		if err != nil {
			checkErr(t, err)
			return
		}
		require.LessOrEqual(t, len(got), limitOf(limit))
		for i, l := range got {
			require.True(t, writable(l.Addr), "%v", l)
			require.True(t, l.SHA1.IsZero() != (l.Name == ""), "%+v", l)
			for _, o := range got[:i] {
				require.NotEqual(t, l, o)
			}
		}
	})
}

// FuzzFeature: X-Features is read without panic; a feature found is one
// the value names, its version within 16 bits.
func FuzzFeature(f *testing.F) {
	f.Add("tls/1.0, sflag/0.1, IP/6.4, HSEP/0.2", "IP") // gtk-gnutella on IPv6 only
	f.Add("browse/1.0, fwalt/0.1, IP/6.0", "ip")
	f.Add("IP/x.y,,IP", "IP")
	f.Fuzz(func(t *testing.T, features, name string) {
		major, minor, ok := Feature(features, name)
		require.True(t, major >= 0 && major < 1<<16 && minor >= 0 && minor < 1<<16)
		require.Equal(t, ok, HasFeature(features, name))
		if !ok {
			require.Zero(t, major+minor)
		}
	})
}

func TestFeature(t *testing.T) {
	major, minor, ok := Feature("tls/1.0, sflag/0.1, IP/6.4, HSEP/0.2", "ip")
	require.True(t, ok)
	require.Equal(t, [2]int{6, 4}, [2]int{major, minor})
	_, _, ok = Feature("tls/1.0", "IP")
	require.False(t, ok)
	major, minor, ok = Feature("IP", "IP")
	require.True(t, ok)
	require.Zero(t, major+minor)
}
