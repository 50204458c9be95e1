package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// answer is a transport that gives every request the same answer.
type answer func(*http.Request) (*http.Response, error)

func (f answer) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func answeringClient(code int, body io.Reader) *Client {
	c := NewClient("127.0.0.1:6347", "0123456789abcdef0123456789abcdef")
	c.http = &http.Client{Transport: answer(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
			Header: http.Header{}, Body: io.NopCloser(body), Request: r}, nil
	})}
	return c
}

type endlessSpaces struct{}

func (endlessSpaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestClientAnswerTooLarge: an answer over the limit is an error, not
// its first part read as if it were all (which can still be valid JSON).
func TestClientAnswerTooLarge(t *testing.T) {
	c := answeringClient(200, io.MultiReader(strings.NewReader(`{"version":"x"}`), endlessSpaces{}))
	c.maxAnswer = 1 << 10
	_, err := c.Status(context.Background())
	require.ErrorContains(t, err, "larger than 1024 bytes")
}

// clientCalls are the client's calls, by what they decode.
var clientCalls = []struct {
	name string
	call func(context.Context, *Client) (any, error)
	out  func() any // a new value of the decoded type; nil: nothing decoded
}{
	{"status", func(ctx context.Context, c *Client) (any, error) { return c.Status(ctx) }, func() any { return new(Status) }},
	{"peers", func(ctx context.Context, c *Client) (any, error) { return c.Peers(ctx) }, func() any { return new([]Peer) }},
	{"shares", func(ctx context.Context, c *Client) (any, error) { return c.Shares(ctx) }, func() any { return new([]SharedFile) }},
	{"rescan", func(ctx context.Context, c *Client) (any, error) { return c.Rescan(ctx) }, func() any { return new(Status) }},
	{"search", func(ctx context.Context, c *Client) (any, error) { return c.StartSearch(ctx, "song") }, func() any { return new(SearchInfo) }},
	{"searches", func(ctx context.Context, c *Client) (any, error) { return c.Searches(ctx) }, func() any { return new([]SearchInfo) }},
	{"results", func(ctx context.Context, c *Client) (any, error) { return c.SearchResults(ctx, "s1", 1) }, func() any { return new(SearchResults) }},
	{"download", func(ctx context.Context, c *Client) (any, error) {
		return c.StartDownload(ctx, DownloadRequest{SearchID: "s1", Result: 1})
	}, func() any { return new(Download) }},
	{"downloads", func(ctx context.Context, c *Client) (any, error) { return c.Downloads(ctx) }, func() any { return new([]Download) }},
	{"download1", func(ctx context.Context, c *Client) (any, error) { return c.Download(ctx, "d1") }, func() any { return new(Download) }},
	{"hosts", func(ctx context.Context, c *Client) (any, error) { return c.Hosts(ctx) }, func() any { return new([]Host) }},
	{"add-peer", func(ctx context.Context, c *Client) (any, error) { return nil, c.AddPeer(ctx, "192.0.2.7:6346") }, nil},
	{"cancel", func(ctx context.Context, c *Client) (any, error) { return nil, c.CancelDownload(ctx, "d1") }, nil},
}

// FuzzClientAnswer gives the client's calls an answer of any status and
// body: an error status is a *StatusError with that code, the server's
// message (or the status when the body has none) and the right errors.Is
// kind; a success decodes exactly when the body is JSON of the call's
// type, and what it decodes encodes back to JSON that decodes the same.
// Seeds (testdata/fuzz/FuzzClientAnswer): the answers of the API handler
// to each call, as the fake backend of api_test.go makes them.
func FuzzClientAnswer(f *testing.F) {
	f.Add(uint16(200), uint8(0), []byte(`{"version":"0.1.0","started":"2026-11-25T13:00:00+01:00"}`))
	f.Add(uint16(204), uint8(11), []byte{})
	f.Add(uint16(404), uint8(6), []byte(`{"error":"no search nope"}`))
	f.Add(uint16(500), uint8(1), []byte(`<html>oops</html>`))
	f.Add(uint16(409), uint8(7), []byte(`{"error":""}`))
	f.Fuzz(func(t *testing.T, status uint16, which uint8, body []byte) {
		code := int(status) % 600 // the codes an answer can have: 200-599
		if code < 200 {
			code += 200
		}
		call := clientCalls[int(which)%len(clientCalls)]
		c := answeringClient(code, bytes.NewReader(body))
		got, err := call.call(context.Background(), c)

		if code >= 300 {
			var se *StatusError
			require.True(t, errors.As(err, &se), "%s %d: %v", call.name, code, err)
			require.Equal(t, code, se.Code)
			var e Error
			if json.Unmarshal(body, &e) == nil && e.Error != "" {
				require.Equal(t, e.Error, se.Msg)
			} else {
				require.Equal(t, fmt.Sprintf("%d %s", code, http.StatusText(code)), se.Msg)
			}
			kinds := map[int]error{404: ErrNotFound, 400: ErrInvalid, 409: ErrConflict, 401: ErrAuth}
			for k, kind := range kinds {
				require.Equal(t, k == code, errors.Is(err, kind), "%d is %v", code, kind)
			}
			return
		}
		if call.out == nil || code == http.StatusNoContent {
			require.NoError(t, err)
			return
		}
		want := call.out()
		if json.Unmarshal(body, want) != nil {
			require.ErrorContains(t, err, "bad answer", call.name)
			return
		}
		require.NoError(t, err, call.name)
		enc, err := json.Marshal(got)
		require.NoError(t, err)
		again := call.out()
		require.NoError(t, json.Unmarshal(enc, again), "%s: %s", call.name, enc)
		enc2, err := json.Marshal(again)
		require.NoError(t, err)
		require.JSONEq(t, string(enc), string(enc2))
	})
}
