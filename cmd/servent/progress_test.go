package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/api"
)

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressBar(&buf)
	p.width = 10
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := api.Download{Name: "f.bin", Size: 10 << 20, Done: 0, State: api.StateWaiting, Sources: 3}
	require.Equal(t, "f.bin [>         ]   0%  0 B/10.0 MiB  0 B/s  ETA --  0/3 sources  waiting", p.line(d, t0))
	d.Done, d.State, d.ActiveSources = 2<<20, api.StateDownloading, 2
	// 2 MiB in 2 s: 1 MiB/s, 8 MiB to go.
	require.Equal(t, "f.bin [==>       ]  20%  2.0 MiB/10.0 MiB  1.0 MiB/s  ETA 8s  2/3 sources", p.line(d, t0.Add(2*time.Second)))
	d.RateBytesPerS = 4 << 20 // the servent's own figure wins
	require.Contains(t, p.line(d, t0.Add(3*time.Second)), "4.0 MiB/s  ETA 2s")
}

func TestProgressTerminalRedraw(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressBar(&buf)
	p.tty = true
	t0 := time.Now()
	p.update(api.Download{Name: "x", Size: 100, Done: 10, State: api.StateDownloading, Sources: 1}, t0)
	p.update(api.Download{Name: "x", Size: 100, Done: 100, State: api.StateComplete, Sources: 1}, t0.Add(time.Second))
	p.finish()
	out := buf.String()
	require.Equal(t, 2, bytes.Count(buf.Bytes(), []byte("\r")))
	require.Equal(t, 1, bytes.Count(buf.Bytes(), []byte("\n")))
	require.Contains(t, out, "100%")
}

func TestExplicitAPIFlags(t *testing.T) {
	f := newFake()
	srvDir := startDaemon(t, f)
	addr, key, err := api.Discover(srvDir)
	require.NoError(t, err)
	empty := t.TempDir()
	out, _, err := runCLI(t, "status", "--data", empty, "--api", addr, "--api-key", key)
	require.NoError(t, err)
	require.Contains(t, out, "servent 0.1.0-test")
	t.Setenv("SERVENT_API", addr)
	t.Setenv("SERVENT_API_KEY", key)
	_, _, err = runCLI(t, "hosts", "--data", empty)
	require.NoError(t, err)
	t.Setenv("SERVENT_API_KEY", "")
	_, _, err = runCLI(t, "hosts", "--data", empty)
	require.EqualError(t, err, "no API key: give --api-key or --data of the running servent")
}
