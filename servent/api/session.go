package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Browser sessions for the web UI (issue 17 item 2). A browser logs in
// with the API key (the login form) or a one-time token (`servent ui`) and
// gets a session cookie, HttpOnly and SameSite=Strict; state-changing
// requests made with the cookie must carry the session's CSRF token in
// X-CSRF-Token. Scripts keep using X-API-Key, which needs no CSRF token: a
// browser cannot send that header cross-origin without a preflight, which
// we never grant.
const (
	sessionCookie = "servent_session"
	sessionLife   = 12 * time.Hour
	tokenLife     = 2 * time.Minute
	maxSessions   = 64 // the oldest goes first
	maxTokens     = 16
)

type session struct {
	csrf    string
	expires time.Time
}

type sessions struct {
	now func() time.Time

	mu     sync.Mutex
	byID   map[string]*session  // guarded by mu
	tokens map[string]time.Time // one-time login tokens -> expiry; guarded by mu
}

func newSessions(now func() time.Time) *sessions {
	if now == nil {
		now = time.Now
	}
	return &sessions{now: now, byID: map[string]*session{}, tokens: map[string]time.Time{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// create starts a session and returns its ID.
func (s *sessions) create() (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for id, x := range s.byID {
		if now.After(x.expires) {
			delete(s.byID, id)
		}
	}
	if len(s.byID) >= maxSessions {
		var oldest string
		for id, x := range s.byID {
			if oldest == "" || x.expires.Before(s.byID[oldest].expires) {
				oldest = id
			}
		}
		delete(s.byID, oldest)
	}
	id := randomHex(32)
	x := &session{csrf: randomHex(16), expires: now.Add(sessionLife)}
	s.byID[id] = x
	return id, x
}

// get returns the session of r's cookie, if it is valid.
func (s *sessions) get(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 64 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.byID[c.Value]
	if x == nil || s.now().After(x.expires) {
		return nil, false
	}
	return x, true
}

func (s *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.byID, c.Value)
		s.mu.Unlock()
	}
}

// newToken makes a one-time login token.
func (s *sessions) newToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for t, exp := range s.tokens {
		if now.After(exp) || len(s.tokens) >= maxTokens {
			delete(s.tokens, t)
		}
	}
	t := randomHex(24)
	s.tokens[t] = now.Add(tokenLife)
	return t
}

// useToken spends a one-time token: true once, within its life.
func (s *sessions) useToken(t string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[t]
	delete(s.tokens, t)
	return ok && !s.now().After(exp)
}

// setCookie gives the browser its session.
func setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionLife / time.Second)})
}

// keyOf is the API key a request carries, "" if none.
func keyOf(r *http.Request) string {
	got := r.Header.Get("X-API-Key")
	if got == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = strings.TrimSpace(v)
		}
	}
	return got
}

func keyOK(got string, want []byte) bool {
	return len(want) > 0 && subtle.ConstantTimeCompare([]byte(got), want) == 1
}

// safeMethod: a request that changes nothing, which needs no CSRF token.
func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }
