package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to a running servent's control API.
type Client struct {
	base      string // "http://host:port"
	key       string
	http      *http.Client
	maxAnswer int64 // bytes read of one answer; more is an error
}

// NewClient returns a client for the API at addr (host:port or an http URL)
// authenticating with key.
func NewClient(addr, key string) *Client {
	base := "http://" + addr
	// A URL has a host; "http:6347" is the host "http" and its port.
	if u, err := url.Parse(addr); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		base = strings.TrimSuffix(addr, "/")
	}
	return &Client{
		base:      base,
		key:       key,
		http:      &http.Client{Timeout: 30 * time.Second},
		maxAnswer: maxResponse,
	}
}

// StatusError is an error answer of the API.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// Unwrap lets callers test errors.Is(err, ErrNotFound) and the like.
func (e *StatusError) Unwrap() error {
	switch e.Code {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusConflict:
		return ErrConflict
	case http.StatusUnauthorized:
		return ErrAuth
	}
	return nil
}

// maxResponse bounds what the client reads of one answer.
const maxResponse = 64 << 20

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", c.key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w (%s)", ErrNoDaemon, c.base)
		}
		return fmt.Errorf("control API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxAnswer+1))
	if err != nil {
		return fmt.Errorf("control API: reading answer: %w", err)
	}
	if int64(len(b)) > c.maxAnswer {
		// Cut, it could still be valid JSON that says less than was sent.
		return fmt.Errorf("control API: answer to %s %s larger than %d bytes", method, path, c.maxAnswer)
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return &StatusError{Code: resp.StatusCode, Msg: e.Error}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("control API: bad answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Status is GET /api/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, "GET", "/api/status", nil, &s)
}

// CheckReachability is POST /api/reachability/check.
func (c *Client) CheckReachability(ctx context.Context) (Reachability, error) {
	var r Reachability
	return r, c.do(ctx, "POST", "/api/reachability/check", nil, &r)
}

// Peers is GET /api/peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var p []Peer
	return p, c.do(ctx, "GET", "/api/peers", nil, &p)
}

// AddPeer is POST /api/peers.
func (c *Client) AddPeer(ctx context.Context, addr string) error {
	return c.do(ctx, "POST", "/api/peers", PeerRequest{Addr: addr}, nil)
}

// DropPeer is DELETE /api/peers.
func (c *Client) DropPeer(ctx context.Context, addr string) error {
	return c.do(ctx, "DELETE", "/api/peers", PeerRequest{Addr: addr}, nil)
}

// Shares is GET /api/shares.
func (c *Client) Shares(ctx context.Context) ([]SharedFile, error) {
	var s []SharedFile
	return s, c.do(ctx, "GET", "/api/shares", nil, &s)
}

// Rescan is POST /api/shares/rescan; it returns the status after the scan.
func (c *Client) Rescan(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, "POST", "/api/shares/rescan", nil, &s)
}

// StartSearch is POST /api/searches.
func (c *Client) StartSearch(ctx context.Context, criteria string) (SearchInfo, error) {
	var s SearchInfo
	return s, c.do(ctx, "POST", "/api/searches", SearchRequest{Criteria: criteria}, &s)
}

// Searches is GET /api/searches.
func (c *Client) Searches(ctx context.Context) ([]SearchInfo, error) {
	var s []SearchInfo
	return s, c.do(ctx, "GET", "/api/searches", nil, &s)
}

// SearchResults is GET /api/searches/{id}/results?after=N: the results
// numbered above after.
func (c *Client) SearchResults(ctx context.Context, id string, after int) (SearchResults, error) {
	var r SearchResults
	path := "/api/searches/" + url.PathEscape(id) + "/results"
	if after > 0 {
		path += "?after=" + strconv.Itoa(after)
	}
	return r, c.do(ctx, "GET", path, nil, &r)
}

// FilteredResults is GET /api/searches/{id}/filtered.
func (c *Client) FilteredResults(ctx context.Context, id string) (FilteredResults, error) {
	var r FilteredResults
	return r, c.do(ctx, "GET", "/api/searches/"+url.PathEscape(id)+"/filtered", nil, &r)
}

// Browse is POST /api/browse: the host's files, as a new search's results.
func (c *Client) Browse(ctx context.Context, req BrowseRequest) (SearchInfo, error) {
	var s SearchInfo
	return s, c.do(ctx, "POST", "/api/browse", req, &s)
}

// Limits is GET /api/limits.
func (c *Client) Limits(ctx context.Context) (map[string]Limit, error) {
	var l map[string]Limit
	return l, c.do(ctx, "GET", "/api/limits", nil, &l)
}

// SetLimits is PUT /api/limits: new caps in bytes/s by class (0: none).
func (c *Client) SetLimits(ctx context.Context, caps map[string]int64) (map[string]Limit, error) {
	var l map[string]Limit
	return l, c.do(ctx, "PUT", "/api/limits", caps, &l)
}

// LoginToken is POST /api/ui/token: a one-time link to the web UI.
func (c *Client) LoginToken(ctx context.Context) (LoginToken, error) {
	var t LoginToken
	return t, c.do(ctx, "POST", "/api/ui/token", nil, &t)
}

// StopSearch is DELETE /api/searches/{id}.
func (c *Client) StopSearch(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/api/searches/"+url.PathEscape(id), nil, nil)
}

// StartDownload is POST /api/downloads.
func (c *Client) StartDownload(ctx context.Context, req DownloadRequest) (Download, error) {
	var d Download
	return d, c.do(ctx, "POST", "/api/downloads", req, &d)
}

// Downloads is GET /api/downloads.
func (c *Client) Downloads(ctx context.Context) ([]Download, error) {
	var d []Download
	return d, c.do(ctx, "GET", "/api/downloads", nil, &d)
}

// Download is GET /api/downloads/{id}.
func (c *Client) Download(ctx context.Context, id string) (Download, error) {
	var d Download
	return d, c.do(ctx, "GET", "/api/downloads/"+url.PathEscape(id), nil, &d)
}

// CancelDownload is DELETE /api/downloads/{id}.
func (c *Client) CancelDownload(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/api/downloads/"+url.PathEscape(id), nil, nil)
}

// Hosts is GET /api/hosts.
func (c *Client) Hosts(ctx context.Context) ([]Host, error) {
	var h []Host
	return h, c.do(ctx, "GET", "/api/hosts", nil, &h)
}
