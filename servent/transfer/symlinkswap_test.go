package transfer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/sharedir"
)

// TestUploadSymlinkSwappedAfterScan: a shared file replaced by a symlink
// leading out of the shared folder after it was indexed is not served
// (the library opens through os.Root; the uploader must open through it).
func TestUploadSymlinkSwappedAfterScan(t *testing.T) {
	root := t.TempDir()
	share := filepath.Join(root, "share")
	require.NoError(t, os.Mkdir(share, 0o755))
	secret := []byte("SECRET outside the shared folder")
	require.NoError(t, os.WriteFile(filepath.Join(root, "secret"), secret, 0o600))
	shared := filepath.Join(share, "a.txt")
	require.NoError(t, os.WriteFile(shared, make([]byte, len(secret)), 0o644))
	lib, err := sharedir.Open(sharedir.Config{Dir: share, DataDir: filepath.Join(root, "data")})
	require.NoError(t, err)
	defer lib.Close()
	require.NoError(t, lib.Start(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, lib.WaitHashed(ctx))
	files := lib.Files()
	require.Len(t, files, 1)

	require.NoError(t, os.Remove(shared))
	require.NoError(t, os.Symlink(filepath.Join(root, "secret"), shared))

	up := NewUploader(UploaderConfig{Files: lib})
	srv := startServer(t, "127.0.0.93", up, nil)
	c, err := net.Dial("tcp", srv.addr.String())
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /get/%d/a.txt HTTP/1.1\r\nConnection: close\r\n\r\n", files[0].Index)
	br := bufio.NewReader(c)
	resp, err := readResponse(br)
	require.NoError(t, err)
	body, _ := io.ReadAll(br)
	require.NotContains(t, string(body), "SECRET")
	require.NotEqual(t, 200, resp.code)
}
