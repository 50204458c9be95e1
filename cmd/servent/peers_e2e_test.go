package main

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/api"
)

// TestPeersShowErrors: `peers add` of a peer that refuses and of a name
// that does not resolve (.invalid: never asked of DNS) used to be silent;
// `servent peers` and the API now show each with its last error, and
// `peers drop` forgets a named peer that never connected.
func TestPeersShowErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.27:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	const unresolvable = "servent-test.invalid:6346"

	tn := startTestNode(t, "127.0.0.26", servent.ModeLeaf)
	for _, p := range []string{closed, unresolvable} {
		_, _, err := runCLI(t, "peers", "add", "--detach", "--data", tn.data, p)
		require.NoError(t, err)
	}
	var peers []api.Peer
	require.Eventually(t, func() bool {
		out, _, err := runCLI(t, "peers", "--data", tn.data, "--json")
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(out), &peers))
		return len(peers) == 2 && peers[0].LastError != "" && peers[1].LastError != ""
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, closed, peers[0].Addr)
	require.Equal(t, api.PeerWaiting, peers[0].State)
	require.Equal(t, "connection refused", peers[0].LastError)
	require.WithinDuration(t, time.Now(), peers[0].LastErrorAt, time.Minute)
	require.True(t, peers[0].NextTry.After(peers[0].LastErrorAt))
	require.Equal(t, unresolvable, peers[1].Addr)
	require.Equal(t, "cannot resolve servent-test.invalid: no such host", peers[1].LastError)

	out, _, err := runCLI(t, "peers", "--data", tn.data)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^`+regexp.QuoteMeta(closed)+`\s+not connected\s+waiting\s+\d+s ago\s+connection refused$`, out)
	require.Regexp(t, `(?m)^servent-test\.invalid:6346\s+not connected\s+waiting\s+\d+s ago\s+cannot resolve servent-test\.invalid: no such host$`, out)

	_, _, err = runCLI(t, "peers", "drop", "--data", tn.data, unresolvable)
	require.NoError(t, err)
	out, _, err = runCLI(t, "peers", "--data", tn.data)
	require.NoError(t, err)
	require.NotContains(t, out, "invalid")
	require.Contains(t, out, closed)
}

// TestPeersAddWaits: `peers add` used to print "connecting to" and exit 0
// whatever became of the dial; it now waits for the first outcome.
func TestPeersAddWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.29:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	tn := startTestNode(t, "127.0.0.28", servent.ModeLeaf)

	_, _, err = runCLI(t, "peers", "add", "--data", tn.data, closed)
	require.Error(t, err)
	require.Equal(t, exitFailure, exitCode(err))
	require.Regexp(t, `^could not connect to `+regexp.QuoteMeta(closed)+`: connection refused; retrying in (\d+s|\dm\d\ds) \(see `+"`servent peers`"+`\)$`, err.Error())

	_, _, err = runCLI(t, "peers", "add", "--data", tn.data, "servent-test.invalid:6346")
	require.Error(t, err)
	require.Equal(t, exitFailure, exitCode(err))
	require.Contains(t, err.Error(), "could not connect to servent-test.invalid:6346: cannot resolve servent-test.invalid: no such host")

	up := startTestNode(t, "127.0.0.30", servent.ModeUltrapeer)
	upAddr := up.node.Addr().String()
	out, _, err := runCLI(t, "peers", "add", "--data", tn.data, upAddr)
	require.NoError(t, err)
	require.Regexp(t, `^connected to `+regexp.QuoteMeta(upAddr)+` \(ultrapeer, servent/[^)]*\)\n$`, out)

	// By name: the connected peer is listed by its address, not the name.
	// localhost is 127.0.0.1 in /etc/hosts on Linux.
	named := startTestNode(t, "127.0.0.1", servent.ModeUltrapeer)
	port := named.node.Addr().Port()
	out, _, err = runCLI(t, "peers", "add", "--wait", "30s", "--data", tn.data, fmt.Sprintf("localhost:%d", port))
	require.NoError(t, err)
	require.Regexp(t, fmt.Sprintf(`^connected to localhost:%d \(ultrapeer, servent/[^)]*\)\n$`, port), out)

	out, _, err = runCLI(t, "peers", "add", "--detach", "--data", tn.data, closed)
	require.NoError(t, err)
	require.Equal(t, "connecting to "+closed+" (see `servent peers`)\n", out)
}
