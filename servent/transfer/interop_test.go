package transfer

import (
	"crypto/sha1"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// Interop with a real gtk-gnutella, run only in the interop lab (inside
// its network namespace); skipped elsewhere. TestInteropDownloadFromGTKG
// works against any servent serving HTTP (also run against GnutellaBun).
// Environment:
//
//	GTKG_ADDR          ip:port of a running gtk-gnutella
//	GTKG_FILE          a file it shares (the test reads it for urn and bytes)
//	INTEROP_IP         our address (default 127.0.0.10)
//	GTKG_DOWNLOAD_CMD  command taking "ip:port urn:sha1:... name" that makes
//	                   gtk-gnutella download from us (lab: gtkg-download.sh -n NAME)
//	GTKG_COMPLETE_DIR  where gtk-gnutella puts finished downloads

func interopEnv(t *testing.T, keys ...string) []string {
	var out []string
	for _, k := range keys {
		v := os.Getenv(k)
		if v == "" {
			t.Skipf("%s not set: interop lab only", k)
		}
		out = append(out, v)
	}
	return out
}

func interopIP() string {
	if ip := os.Getenv("INTEROP_IP"); ip != "" {
		return ip
	}
	return "127.0.0.10"
}

func TestInteropDownloadFromGTKG(t *testing.T) {
	env := interopEnv(t, "GTKG_ADDR", "GTKG_FILE")
	content, err := os.ReadFile(env[1])
	require.NoError(t, err)
	sha := protocol.SHA1(sha1.Sum(content))
	d := newDirs(t)
	m := openManager(t, d, func(c *ManagerConfig) {
		c.Dial = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(interopIP())}}).DialContext
	})
	_, err = m.Start(sha, filepath.Base(env[1]), int64(len(content)), []Source{{Addr: netipMust(env[0])}})
	require.NoError(t, err)
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
	// And from the urn alone (size by HEAD).
	require.NoError(t, m.Cancel(sha))
	require.NoError(t, os.RemoveAll(d.dl))
	require.NoError(t, os.MkdirAll(d.dl, 0o755))
	_, err = m.Start(sha, "", -1, []Source{{Addr: netipMust(env[0])}})
	require.NoError(t, err)
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
}

func TestInteropGTKGDownloadsFromUs(t *testing.T) {
	env := interopEnv(t, "GTKG_DOWNLOAD_CMD", "GTKG_COMPLETE_DIR")
	// One file per request form, with distinct bytes: gtk-gnutella merges a
	// download into a finished one with the same SHA-1.
	for _, form := range []string{"urn", "get"} {
		t.Run(form, func(t *testing.T) {
			content := randomBytes(t, 3<<20+17)
			name := "servent interop " + form + " " + time.Now().Format("150405") + ".bin"
			f := shareFile(t, t.TempDir(), 5, name, content)
			up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploadsPerIP: 4})
			srv := startServer(t, interopIP(), up, nil)
			target := f.SHA1.URN()
			if form == "get" {
				target = "5"
			}
			out, err := exec.Command("sh", "-c", env[0]+` "$1" "$2" "$3"`, "sh", srv.addr.String(), target, name).CombinedOutput()
			require.NoError(t, err, string(out))
			dst := filepath.Join(env[1], name)
			require.Eventually(t, func() bool {
				got, err := os.ReadFile(dst)
				return err == nil && sha1.Sum(got) == sha1.Sum(content)
			}, 60*time.Second, 50*time.Millisecond, "gtk-gnutella did not complete %s", target)
			t.Logf("gtk-gnutella downloaded %q via %s; uploader sent %d bytes", name, target, up.BytesSent())
			_ = os.Remove(dst)
		})
	}
}
