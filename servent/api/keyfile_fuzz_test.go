package api

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDiscoverDamaged: Discover hands the client only an address it can
// put in a URL and a key it can put in a header, and reads no more than
// such files hold.
func TestDiscoverDamaged(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct{ name, info, key, err string }{
		{"ok", `{"addr":"127.0.0.1:6347","pid":42}`, key + "\n", ""},
		{"ok ipv6", `{"addr":"[::1]:6347","pid":42}`, key, ""},
		{"key with escapes", `{"addr":"127.0.0.1:6347"}`, "\x1b]0;pwned\x07" + key, "damaged"},
		{"key too short", `{"addr":"127.0.0.1:6347"}`, "abc", "damaged"},
		{"addr with a path", `{"addr":"127.0.0.1:6347/evil?"}`, key, "damaged"},
		{"addr without port", `{"addr":"127.0.0.1"}`, key, "damaged"},
		{"addr port 0", `{"addr":"127.0.0.1:0"}`, key, "damaged"},
		{"huge info", `{"addr":"127.0.0.1:6347"}` + strings.Repeat(" ", 1<<20), key, "larger than"},
		{"huge key", `{"addr":"127.0.0.1:6347"}`, key + strings.Repeat("\n", 1<<20), "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, InfoFileName), []byte(c.info), 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFileName), []byte(c.key), 0o600))
			addr, k, err := Discover(dir)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, key, k)
			require.NotEmpty(t, addr)
		})
	}
}

// FuzzAPIFiles reads api.json and api-key content as Discover does: an
// accepted address makes a client URL with exactly that host and nothing
// else (no path, query or user), an accepted key is header-safe, and both
// read back the same after being written as WriteInfo and LoadOrCreateKey
// write them.
func FuzzAPIFiles(f *testing.F) {
	const key = "9c1e0bd54f0e8a8b0a4b6d1e6e8f5d7c3b2a19f8e7d6c5b4a39281706f5e4d3c"
	f.Add([]byte(`{"addr":"127.0.0.1:6347","pid":4242}`+"\n"), []byte(key+"\n")) // as written
	f.Add([]byte(`{"addr":"[::1]:6347","pid":1}`), []byte("  "+key+"\r\n"))
	f.Add([]byte(`{"addr":"0.0.0.0:6347"}`), []byte(key[:31]))
	f.Add([]byte(`{"addr":"http:6347"}`), []byte(key+"\x1b[2J"))
	f.Add([]byte(`{"addr":"localhost:6347/api?x=","pid":-1}`), []byte(key+" "+key))
	f.Add([]byte(`{"addr":"[fe80::1%eth0]:6347"}`), []byte(strings.Repeat("k", 257)))
	f.Add([]byte(`{"Addr":"user@host:1","addr":"h:65536"}`), []byte{})
	f.Fuzz(func(t *testing.T, infoFile, keyFile []byte) {
		if info, err := parseInfo(infoFile); err == nil {
			require.True(t, validAddr(info.Addr))
			for _, addr := range []string{info.Addr, ClientAddr(info.Addr)} {
				c := NewClient(addr, key)
				u, err := url.Parse(c.base + "/api/status")
				require.NoError(t, err, "client base %q", c.base)
				require.Equal(t, "http", u.Scheme, "client base %q", c.base)
				require.Equal(t, addr, u.Host, "client base %q", c.base)
				require.Equal(t, "/api/status", u.Path, "client base %q", c.base)
				require.True(t, u.User == nil && u.RawQuery == "" && u.Fragment == "", "client base %q", c.base)
			}
			b, err := json.Marshal(info)
			require.NoError(t, err)
			again, err := parseInfo(b)
			require.NoError(t, err)
			require.Equal(t, info, again)
		}
		if k, ok := parseKey(keyFile); ok {
			require.True(t, len(k) >= 32 && len(k) <= 256)
			for _, c := range []byte(k) {
				require.True(t, c > ' ' && c < 0x7f, "key byte %#x would break the header", c)
			}
			again, ok := parseKey([]byte(k + "\n"))
			require.True(t, ok)
			require.Equal(t, k, again)
		}
	})
}
