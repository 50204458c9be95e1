package api

import (
	"html"
	"net/http"
	"net/url"
	"strings"
)

// requireAuth lets an /api/ request through with the key (scripts) or a
// browser session; a session's state-changing request also needs its CSRF
// token in X-CSRF-Token.
func (h *handler) requireAuth(next http.Handler) http.Handler {
	keyed := requireKey(string(h.key), next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if keyOf(r) != "" {
			keyed.ServeHTTP(w, r)
			return
		}
		s, ok := h.sess.get(r)
		if !ok {
			keyed.ServeHTTP(w, r) // says what is missing
			return
		}
		if !safeMethod(r.Method) && !keyOK(r.Header.Get("X-CSRF-Token"), []byte(s.csrf)) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token (send the session's token in X-CSRF-Token)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SessionInfo is GET /api/session: the CSRF token a browser session sends
// with its state-changing requests.
type SessionInfo struct {
	CSRF string `json:"csrf"`
}

func (h *handler) session(w http.ResponseWriter, r *http.Request) {
	s, ok := h.sess.get(r)
	if !ok {
		writeError(w, http.StatusNotFound, "no browser session (this request came with the API key)")
		return
	}
	writeJSON(w, 200, SessionInfo{CSRF: s.csrf})
}

// LoginToken is POST /api/ui/token: a one-time link that opens a browser
// session (`servent ui`), valid for two minutes.
type LoginToken struct {
	Token string `json:"token"`
	URL   string `json:"url"`
}

func (h *handler) uiToken(w http.ResponseWriter, r *http.Request) {
	t := h.sess.newToken()
	u := url.URL{Scheme: "http", Host: r.Host, Path: "/ui/login", RawQuery: "token=" + t}
	writeJSON(w, 200, LoginToken{Token: t, URL: u.String()})
}

// loginPage asks for the key, or spends a one-time token from `servent ui`.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" {
		if h.sess.useToken(t) {
			h.startSession(w, r)
			return
		}
		writeLogin(w, http.StatusUnauthorized, "This login link has expired or was used already: run `servent ui` for a new one, or enter the API key.")
		return
	}
	writeLogin(w, http.StatusOK, "")
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		writeLogin(w, http.StatusForbidden, "A login from another site is refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		writeLogin(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if !keyOK(strings.TrimSpace(r.PostForm.Get("key")), h.key) {
		writeLogin(w, http.StatusUnauthorized, "Wrong key. It is in the file api-key of the servent's data folder.")
		return
	}
	h.startSession(w, r)
}

func (h *handler) startSession(w http.ResponseWriter, r *http.Request) {
	id, _ := h.sess.create()
	setCookie(w, id)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if s, ok := h.sess.get(r); !ok || !keyOK(r.Header.Get("X-CSRF-Token"), []byte(s.csrf)) {
		writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
		return
	}
	h.sess.drop(r)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == host
}

// serveUI serves the web UI's files to a browser with a session and sends
// others to the login page.
func (h *handler) serveUI(w http.ResponseWriter, r *http.Request) {
	if h.ui == nil { // unauthenticated requests learn nothing, not even which paths exist
		requireKey(string(h.key), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
		})).ServeHTTP(w, r)
		return
	}
	if _, ok := h.sess.get(r); !ok {
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-cache")
	http.FileServerFS(h.ui).ServeHTTP(w, r)
}

func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin") // "no-referrer" makes a browser post Origin: null
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

func writeLogin(w http.ResponseWriter, code int, msg string) {
	securityHeaders(w)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	p := ""
	if msg != "" {
		p = `<p class="err">` + html.EscapeString(msg) + `</p>`
	}
	_, _ = w.Write([]byte(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>servent: log in</title>
<style>body{font:16px system-ui,sans-serif;max-width:28em;margin:4em auto;padding:0 1em;color:#222}
input{font:inherit;padding:.4em;width:100%;box-sizing:border-box}button{font:inherit;padding:.4em 1.2em;margin-top:.6em}
.err{color:#a00}code{background:#eee;padding:0 .2em}</style></head>
<body><h1>servent</h1>` + p + `
<form method="post" action="/ui/login"><label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Log in</button></form>
<p>The key is in the file <code>api-key</code> in the servent's data folder; <code>servent ui</code> prints a link that logs in without it.</p>
</body></html>
`))
}
