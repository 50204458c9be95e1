package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/servent/servent/servent/api"
)

// FuzzRequest sends arbitrary authenticated requests to the handler: it
// must never panic and always answer JSON with a known status.
func FuzzRequest(f *testing.F) {
	for _, seed := range []struct{ method, path, body string }{
		{"GET", "/api/status", ""},
		{"POST", "/api/peers", `{"addr":"10.0.0.1:6346"}`},
		{"DELETE", "/api/peers", `{"addr":"127.0.0.2:6346"}`},
		{"POST", "/api/searches", `{"criteria":"song"}`},
		{"GET", "/api/searches/s1/results?after=1", ""},
		{"POST", "/api/downloads", `{"search_id":"s1","result":1}`},
		{"POST", "/api/downloads", `{"urn":"urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB"}`},
		{"DELETE", "/api/downloads/d1", ""},
		{"POST", "/api/downloads", `{"result":-1,"search_id":"\u0000"}`},
		{"POST", "/api/peers", `[`},
	} {
		f.Add(seed.method, seed.path, seed.body)
	}
	const key = "0123456789abcdef0123456789abcdef"
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t") {
			return
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return // the HTTP server refuses such a request line itself
		}
		switch method {
		case "GET", "POST", "DELETE", "PUT":
		default:
			return
		}
		b := fakeBackend()
		h := api.NewHandler(b, key, nil)
		// One search exists so that ids resolve.
		if _, err := b.StartSearch("song"); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 201, 202, 204, 400, 404, 405, 409, 413:
		case 301, 307, 308: // ServeMux cleaning the path
			return
		default:
			t.Fatalf("%s %s %q: status %d", method, path, body, rec.Code)
		}
		if rec.Code != 204 && rec.Code != 405 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: not JSON: %q", method, path, rec.Body.String())
		}
	})
}
