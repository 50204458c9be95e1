package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// uiBackend is the least Backend the UI handlers need; searches are
// recorded.
type uiBackend struct {
	Backend // nil: any other call panics, which the test would see
	mu      sync.Mutex
	started []string
}

func (b *uiBackend) Status() Status { return Status{Mode: "leaf"} }
func (b *uiBackend) Peers() []Peer  { return nil }
func (b *uiBackend) Searches() []SearchInfo {
	return nil
}
func (b *uiBackend) Downloads() []Download { return nil }
func (b *uiBackend) StartSearch(c string) (SearchInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.started = append(b.started, c)
	return SearchInfo{ID: "s1", Criteria: c}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func uiServer(t *testing.T, o Options) (*httptest.Server, *uiBackend, *clock) {
	t.Helper()
	b := &uiBackend{}
	clk := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	o.now = clk.now
	o.UI = fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>servent</title>")}}
	closing := make(chan struct{})
	srv := httptest.NewServer(newHandler(b, testKey, nil, o, closing))
	t.Cleanup(func() { close(closing); srv.Close() })
	return srv, b, clk
}

// browser is an HTTP client that keeps cookies and does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func form(v url.Values) (string, map[string]string) {
	return v.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
}

// TestUILogin: the page needs a session; the key opens one (cookie
// HttpOnly, SameSite=Strict); with it the page and the API answer, and a
// state change needs the CSRF token. A script's key needs none.
func TestUILogin(t *testing.T) {
	srv, b, _ := uiServer(t, Options{})
	c := browser(t)
	resp, _ := do(t, c, "GET", srv.URL+"/", "", nil)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/ui/login", resp.Header.Get("Location"))
	resp, page := do(t, c, "GET", srv.URL+"/ui/login", "", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, `name="key"`)

	body, hdr := form(url.Values{"key": {"wrong"}})
	resp, page = do(t, c, "POST", srv.URL+"/ui/login", body, hdr)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, page, "Wrong key")
	hdr["Origin"] = "http://evil.example"
	body, _ = form(url.Values{"key": {testKey}})
	resp, _ = do(t, c, "POST", srv.URL+"/ui/login", body, hdr)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a login posted from another site")
	delete(hdr, "Origin")
	resp, _ = do(t, c, "POST", srv.URL+"/ui/login", body, hdr)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	cookie := resp.Cookies()[0]
	assert.Equal(t, sessionCookie, cookie.Name)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)

	resp, page = do(t, c, "GET", srv.URL+"/", "", nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, "<title>servent</title>")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
	resp, sess := do(t, c, "GET", srv.URL+"/api/session", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	var si SessionInfo
	require.NoError(t, json.Unmarshal([]byte(sess), &si))
	csrf := si.CSRF
	require.Len(t, csrf, 32)

	search := `{"criteria":"free song"}`
	resp, page = do(t, c, "POST", srv.URL+"/api/searches", search, nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, page)
	assert.Contains(t, page, "CSRF")
	resp, _ = do(t, c, "POST", srv.URL+"/api/searches", search, map[string]string{"X-CSRF-Token": strings.Repeat("0", 32)})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = do(t, c, "POST", srv.URL+"/api/searches", search, map[string]string{"X-CSRF-Token": csrf})
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, _ = do(t, http.DefaultClient, "POST", srv.URL+"/api/searches", search, map[string]string{"X-API-Key": testKey})
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "a script with the key needs no CSRF token")
	assert.Equal(t, []string{"free song", "free song"}, b.started)

	resp, _ = do(t, c, "POST", srv.URL+"/ui/logout", "", nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "logout without the CSRF token")
	resp, _ = do(t, c, "POST", srv.URL+"/ui/logout", "", map[string]string{"X-CSRF-Token": csrf})
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = do(t, c, "GET", srv.URL+"/api/status", "", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// TestUIToken: `servent ui`'s link logs in once, within two minutes, and
// only the key gets one; sessions expire.
func TestUIToken(t *testing.T) {
	srv, _, clk := uiServer(t, Options{})
	resp, _ := do(t, http.DefaultClient, "POST", srv.URL+"/api/ui/token", "", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	get := func() string {
		resp, body := do(t, http.DefaultClient, "POST", srv.URL+"/api/ui/token", "", map[string]string{"Authorization": "Bearer " + testKey})
		require.Equal(t, 200, resp.StatusCode)
		var lt LoginToken
		require.NoError(t, json.Unmarshal([]byte(body), &lt))
		u := lt.URL
		require.True(t, strings.HasPrefix(u, srv.URL+"/ui/login?token="), u)
		return u
	}
	c := browser(t)
	link := get()
	resp, _ = do(t, c, "GET", link, "", nil)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = do(t, c, "GET", srv.URL+"/api/status", "", nil)
	assert.Equal(t, 200, resp.StatusCode)
	resp, page := do(t, browser(t), "GET", link, "", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "used")
	assert.Contains(t, page, "servent ui")

	late := get()
	clk.add(tokenLife + time.Second)
	resp, _ = do(t, browser(t), "GET", late, "", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "expired")

	clk.add(sessionLife)
	resp, _ = do(t, c, "GET", srv.URL+"/api/status", "", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the session expired")
}

// TestMetricsAuth: /metrics wants the key unless opened.
func TestMetricsAuth(t *testing.T) {
	m := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "servent_up 1\n") })
	srv, _, _ := uiServer(t, Options{Metrics: m})
	resp, _ := do(t, http.DefaultClient, "GET", srv.URL+"/metrics", "", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, body := do(t, http.DefaultClient, "GET", srv.URL+"/metrics", "", map[string]string{"Authorization": "Bearer " + testKey})
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "servent_up 1\n", body)
	open, _, _ := uiServer(t, Options{Metrics: m, MetricsOpen: true})
	resp, _ = do(t, http.DefaultClient, "GET", open.URL+"/metrics", "", nil)
	assert.Equal(t, 200, resp.StatusCode)
}

// TestEventsSlowListener: a listener that never reads loses its oldest
// events (counted) while another keeps getting a status a tick, and the
// hub stops when both left.
func TestEventsSlowListener(t *testing.T) {
	h := newHub(&uiBackend{}, time.Millisecond)
	slow := h.join()
	fast := h.join()
	for range 3 * eventQueue {
		msg := <-fast.ch
		require.True(t, strings.HasPrefix(string(msg), "event: "), string(msg))
	}
	assert.Positive(t, h.dropped.Load())
	assert.Len(t, slow.ch, eventQueue, "bounded")
	h.leave(slow)
	h.leave(fast)
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.running
	}, 5*time.Second, time.Millisecond)
}

// TestEventStream: GET /api/events speaks Server-Sent Events and ends when
// the server shuts down.
func TestEventStream(t *testing.T) {
	srv, _, _ := uiServer(t, Options{EventEvery: 5 * time.Millisecond})
	req, err := http.NewRequest("GET", srv.URL+"/api/events", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "event: status\ndata: {") || !strings.Contains(got.String(), "event: peers\ndata: []") {
		n, err := resp.Body.Read(buf)
		require.NoError(t, err)
		got.Write(buf[:n])
	}
}
