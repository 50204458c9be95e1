package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/api"
	"github.com/servent/servent/servent/transfer"
)

// getWithin runs `servent get` in process; a get that never returns is cut
// off (as if Ctrl-C) after a generous bound, which the old code turned
// into a silent success.
func getWithin(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err = app.RunContext(ctx, append([]string{"servent", "get"}, args...))
	return out.String(), errOut.String(), err
}

// TestGetStuck (issue 9 item 3): a download with no usable source, or
// paused by a full disk, ends `get` with the reason and exit code 1.
// Before: get polled forever ("waiting 0/0", no error).
func TestGetStuck(t *testing.T) {
	for _, tc := range []struct {
		state, err, want string
	}{
		{api.StateStalled, "no usable source left: 1 banned (its data failed the SHA-1 check)",
			"download of a song.ogg stalled: no usable source left: 1 banned (its data failed the SHA-1 check)"},
		{api.StateDiskError, "cannot write to disk: write /d/x.part: no space left on device",
			"download of a song.ogg paused: cannot write to disk: write /d/x.part: no space left on device"},
	} {
		t.Run(tc.state, func(t *testing.T) {
			f := newFake()
			f.DownloadSteps = []api.Download{
				{State: api.StateDownloading, Done: 1 << 20, ActiveSources: 1},
				{State: tc.state, Done: 1 << 20, Error: tc.err},
			}
			dir := startDaemon(t, f)
			_, _, err := getWithin(t, "--data", dir, urn1)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Equal(t, exitFailure, exitCode(err))
		})
	}
}

// TestGetGone (issue 9 item 4): `get` of a completed file that was moved
// or deleted says where it was and exits 1. Before: "downloaded PATH".
func TestGetGone(t *testing.T) {
	f := newFake()
	f.DownloadSteps = []api.Download{{State: api.StateGone, Done: 4 << 20, Path: "/dl/a song.ogg",
		Error: "downloaded to /dl/a song.ogg, but moved or deleted since"}}
	dir := startDaemon(t, f)
	out, _, err := getWithin(t, "--data", dir, urn1)
	require.Error(t, err)
	require.Contains(t, err.Error(), "a song.ogg is gone: downloaded to /dl/a song.ogg, but moved or deleted since")
	require.Contains(t, err.Error(), "`servent downloads cancel --data "+dir+" d1`", "the hint names this servent")
	require.Equal(t, exitFailure, exitCode(err))
	require.NotContains(t, out, "downloaded /dl")
}

// TestAPIStates: every state of a listed transfer maps onto a documented
// API state (TestDocumentedStates checks the docs against the list).
func TestAPIStates(t *testing.T) {
	for _, st := range []transfer.DownloadState{transfer.StateActive, transfer.StateWaiting, transfer.StateStalled,
		transfer.StateDiskError, transfer.StateVerifying, transfer.StateComplete, transfer.StateGone, transfer.StateFailed} {
		require.Contains(t, api.DownloadStates, toAPIDownload(transfer.Info{State: st}).State, st)
	}
}
