package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAddr is where the API listens unless told otherwise: loopback only.
const DefaultAddr = "127.0.0.1:6347"

// maxBody bounds every request body; the largest legitimate one is a
// download request of a few hundred bytes.
const maxBody = 64 << 10

// Config configures a Server.
type Config struct {
	Addr     string       // listen address; DefaultAddr when empty
	Listener net.Listener // optional: used instead of listening on Addr
	// DataDir holds the key file and the address file that clients read.
	// Empty: no files are written (Key must then be set).
	DataDir string
	Key     string // optional: the key to require; default LoadOrCreateKey(DataDir)
	Backend Backend
	Logger  *slog.Logger
	Options
}

// Options are the optional parts of the API's handler.
type Options struct {
	// Metrics, when set, is served at /metrics to requests carrying the key
	// (Authorization: Bearer or X-API-Key), or to anyone with MetricsOpen.
	Metrics     http.Handler
	MetricsOpen bool
	// UI, when set, is the web UI's static files, served at / to browsers
	// holding a session (a login page otherwise).
	UI fs.FS
	// EventEvery is the event stream's period (tests); 0: a second.
	EventEvery time.Duration

	now func() time.Time // sessions' clock (tests)
}

// Server is a running control API.
type Server struct {
	srv      *http.Server
	ln       net.Listener
	key      string
	keyFile  string
	infoFile string
	log      *slog.Logger
	done     chan struct{} // closed when Serve returned
	stop     func() bool   // unregisters the context watch
	once     sync.Once
}

// Start listens, writes the address file next to the key file so that
// clients find the API, and serves until ctx is done or Close is called.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("api: no backend")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{key: cfg.Key, log: log, done: make(chan struct{})}
	if s.key == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("api: neither a key nor a data folder")
		}
		key, path, err := LoadOrCreateKey(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		s.key, s.keyFile = key, path
	}
	ln := cfg.Listener
	if ln == nil {
		addr := cfg.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("control API: %w", err)
		}
	}
	s.ln = ln
	if cfg.DataDir != "" {
		path, err := WriteInfo(cfg.DataDir, Info{Addr: ClientAddr(ln.Addr().String())})
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.infoFile = path
	}
	closing := make(chan struct{})
	s.srv = &http.Server{
		Handler:           newHandler(cfg.Backend, s.key, log, cfg.Options, closing),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	s.srv.RegisterOnShutdown(func() { close(closing) }) // event streams end
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("control API stopped", "err", err)
		}
	}()
	// The callback must not read s.stop: when ctx is already done it runs
	// at once, racing with this assignment.
	s.stop = context.AfterFunc(ctx, func() { s.shutdown() })
	return s, nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Key is the API key clients must send.
func (s *Server) Key() string { return s.key }

// KeyFile is the path of the key file ("" when the key was given).
func (s *Server) KeyFile() string { return s.keyFile }

// Close stops the server, waiting a little for requests in flight, and
// removes the address file so that clients know nothing listens any more.
// A nil Server (API disabled) closes as a no-op.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.stop()
	s.shutdown()
	return nil
}

// shutdown is Close without unregistering the context callback.
func (s *Server) shutdown() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		<-s.done
		if s.infoFile != "" {
			RemoveInfo(s.infoFile)
		}
	})
}

// NewHandler serves the API from b, refusing requests without key.
func NewHandler(b Backend, key string, log *slog.Logger) http.Handler {
	return newHandler(b, key, log, Options{}, nil)
}

// NewHandlerWith is NewHandler with the metrics, the web UI and the event
// stream's period; closing, when closed, ends the event streams.
func NewHandlerWith(b Backend, key string, log *slog.Logger, o Options, closing <-chan struct{}) http.Handler {
	return newHandler(b, key, log, o, closing)
}

func newHandler(b Backend, key string, log *slog.Logger, o Options, closing <-chan struct{}) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{b: b, log: log, hub: newHub(b, o.EventEvery), closing: closing, sess: newSessions(o.now), key: []byte(key), ui: o.UI}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/status", h.status)
	mux.HandleFunc("GET /api/peers", h.peers)
	mux.HandleFunc("POST /api/peers", h.addPeer)
	mux.HandleFunc("DELETE /api/peers", h.dropPeer)
	mux.HandleFunc("DELETE /api/peers/{addr}", h.dropPeer)
	mux.HandleFunc("GET /api/shares", h.shares)
	mux.HandleFunc("POST /api/shares/rescan", h.rescan)
	mux.HandleFunc("POST /api/searches", h.startSearch)
	mux.HandleFunc("GET /api/searches", h.searches)
	mux.HandleFunc("GET /api/searches/{id}", h.search)
	mux.HandleFunc("GET /api/searches/{id}/results", h.searchResults)
	mux.HandleFunc("GET /api/searches/{id}/filtered", h.filteredResults)
	mux.HandleFunc("DELETE /api/searches/{id}", h.stopSearch)
	mux.HandleFunc("POST /api/browse", h.browse)
	mux.HandleFunc("GET /api/limits", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, h.b.Limits()) })
	mux.HandleFunc("PUT /api/limits", h.setLimits)
	mux.HandleFunc("POST /api/downloads", h.startDownload)
	mux.HandleFunc("GET /api/downloads", h.downloads)
	mux.HandleFunc("GET /api/downloads/{id}", h.download)
	mux.HandleFunc("DELETE /api/downloads/{id}", h.cancelDownload)
	mux.HandleFunc("GET /api/hosts", h.hosts)
	mux.HandleFunc("POST /api/reachability/check", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, h.b.CheckReachability(r.Context()))
	})
	mux.HandleFunc("GET /api/events", h.events)
	mux.HandleFunc("GET /api/session", h.session)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	top := http.NewServeMux()
	top.Handle("/api/", h.requireAuth(recoverer(log, mux)))
	top.Handle("POST /api/ui/token", requireKey(key, http.HandlerFunc(h.uiToken)))
	if o.Metrics != nil {
		m := o.Metrics
		if !o.MetricsOpen {
			m = requireKey(key, m)
		}
		top.Handle("GET /metrics", m)
	}
	top.HandleFunc("GET /ui/login", h.loginPage)
	top.HandleFunc("POST /ui/login", h.login)
	top.HandleFunc("POST /ui/logout", h.logout)
	top.HandleFunc("/", h.serveUI)
	return top
}

// recoverer turns a panic in a backend call into a 500 with a JSON error,
// so a client prints a line instead of "EOF".
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("control API handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error in the servent: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// requireKey lets a request through only with the right key in X-API-Key or
// Authorization: Bearer. Browsers cannot add either header cross-origin
// without a preflight, which we never grant.
func requireKey(key string, next http.Handler) http.Handler {
	want := []byte(key)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := keyOf(r)
		if got == "" {
			writeError(w, http.StatusUnauthorized, "missing API key (send it in the X-API-Key header)")
			return
		}
		if !keyOK(got, want) {
			writeError(w, http.StatusUnauthorized, "wrong API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	b       Backend
	log     *slog.Logger
	hub     *hub
	closing <-chan struct{}
	sess    *sessions
	key     []byte
	ui      fs.FS
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, h.b.Status()) }

func (h *handler) peers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, nonNil(h.b.Peers()))
}

func (h *handler) addPeer(w http.ResponseWriter, r *http.Request) {
	var req PeerRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Addr == "" {
		writeError(w, http.StatusBadRequest, "addr is required (HOST:PORT)")
		return
	}
	if err := h.b.AddPeer(req.Addr); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, req)
}

func (h *handler) dropPeer(w http.ResponseWriter, r *http.Request) {
	req := PeerRequest{Addr: r.PathValue("addr")}
	if req.Addr == "" && !decode(w, r, &req) {
		return
	}
	if req.Addr == "" {
		writeError(w, http.StatusBadRequest, "addr is required (HOST:PORT)")
		return
	}
	if err := h.b.DropPeer(req.Addr); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, 200, req)
}

func (h *handler) shares(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, nonNil(h.b.Shares()))
}

func (h *handler) rescan(w http.ResponseWriter, r *http.Request) {
	if err := h.b.Rescan(); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, 200, h.b.Status())
}

func (h *handler) startSearch(w http.ResponseWriter, r *http.Request) {
	var req SearchRequest
	if !decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Criteria) == "" {
		writeError(w, http.StatusBadRequest, "criteria is required")
		return
	}
	s, err := h.b.StartSearch(req.Criteria)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (h *handler) searches(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, nonNil(h.b.Searches()))
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	s, _, err := h.b.SearchResults(r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, 200, s)
}

// searchResults answers the results of a search; ?after=N returns only
// those numbered above N, so a client polling for new results gets each once.
func (h *handler) searchResults(w http.ResponseWriter, r *http.Request) {
	after := 0
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "after must be a result number")
			return
		}
		after = n
	}
	s, res, err := h.b.SearchResults(r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]Result, 0, len(res))
	for _, x := range res {
		if x.N > after {
			out = append(out, x)
		}
	}
	writeJSON(w, 200, SearchResults{Search: s, Results: out})
}

func (h *handler) filteredResults(w http.ResponseWriter, r *http.Request) {
	s, res, err := h.b.FilteredResults(r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if res == nil {
		res = []FilteredResult{}
	}
	writeJSON(w, 200, FilteredResults{Search: s, Results: res})
}

func (h *handler) browse(w http.ResponseWriter, r *http.Request) {
	var req BrowseRequest
	if !decode(w, r, &req) {
		return
	}
	req.Addr = strings.TrimSpace(req.Addr)
	if (req.Addr == "") == (req.SearchID == "") {
		writeError(w, http.StatusBadRequest, "give addr (HOST:PORT) or a search result (search_id and result)")
		return
	}
	s, err := h.b.Browse(req)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (h *handler) setLimits(w http.ResponseWriter, r *http.Request) {
	var req map[string]int64
	if !decode(w, r, &req) {
		return
	}
	if err := h.b.SetLimits(req); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, 200, h.b.Limits())
}

func (h *handler) stopSearch(w http.ResponseWriter, r *http.Request) {
	if err := h.b.StopSearch(r.PathValue("id")); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) startDownload(w http.ResponseWriter, r *http.Request) {
	var req DownloadRequest
	if !decode(w, r, &req) {
		return
	}
	if req.URN == "" && req.Magnet == "" && (req.SearchID == "" || req.Result < 1) {
		writeError(w, http.StatusBadRequest, "give a search_id and result number, an urn, or a magnet")
		return
	}
	d, err := h.b.StartDownload(req)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

func (h *handler) downloads(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, nonNil(h.b.Downloads()))
}

func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, d := range h.b.Downloads() {
		if d.ID == id {
			writeJSON(w, 200, d)
			return
		}
	}
	writeError(w, http.StatusNotFound, "no download "+id)
}

func (h *handler) cancelDownload(w http.ResponseWriter, r *http.Request) {
	if err := h.b.CancelDownload(r.PathValue("id")); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) hosts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, nonNil(h.b.Hosts()))
}

// fail maps a backend error onto a status code.
func (h *handler) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNoSource):
		code = http.StatusConflict
	default:
		h.log.Warn("control API request failed", "err", err)
	}
	writeError(w, code, err.Error())
}

// decode reads a bounded JSON body into v, answering 400 itself on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		case errors.Is(err, io.EOF):
			writeError(w, http.StatusBadRequest, "request body must be a JSON object")
		default:
			writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		}
		return false
	}
	return true
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}
