package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The event stream, GET /api/events: Server-Sent Events, one stream for
// every panel of the web UI. A hub takes a snapshot from the backend once
// a second while anyone listens and sends each listener the parts that
// changed for it ("status" always: the traffic chart wants a point a
// second). Each listener has a bounded queue that drops its oldest event
// when full, counted, so a browser that stops reading holds neither the
// node nor the other listeners.
const (
	eventEvery = time.Second
	eventQueue = 32
)

type hub struct {
	b       Backend
	every   time.Duration
	dropped atomic.Uint64

	kick chan struct{} // cap 1: the last listener left

	mu      sync.Mutex
	subs    map[*listener]struct{} // guarded by mu
	running bool                   // guarded by mu: the ticking goroutine runs
}

type listener struct {
	ch   chan []byte
	mu   sync.Mutex        // serialises sends: join's first one and run's
	last map[string][]byte // by event name: what this listener was sent last; guarded by mu
}

func newHub(b Backend, every time.Duration) *hub {
	if every <= 0 {
		every = eventEvery
	}
	return &hub{b: b, every: every, subs: map[*listener]struct{}{}, kick: make(chan struct{}, 1)}
}

// join adds a listener; the hub ticks while it has any.
func (h *hub) join() *listener {
	l := &listener{ch: make(chan []byte, eventQueue), last: map[string][]byte{}}
	h.mu.Lock()
	h.subs[l] = struct{}{}
	start := !h.running
	h.running = true
	h.mu.Unlock()
	if start {
		go h.run()
	} else {
		h.send(l, h.snapshot()) // the panels fill at once
	}
	return l
}

func (h *hub) leave(l *listener) {
	h.mu.Lock()
	delete(h.subs, l)
	last := len(h.subs) == 0
	h.mu.Unlock()
	if last {
		select {
		case h.kick <- struct{}{}: // run ends now, not at its next tick
		default:
		}
	}
}

// run ticks until the last listener left.
func (h *hub) run() {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		evs := h.snapshot()
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		ls := make([]*listener, 0, len(h.subs))
		for l := range h.subs {
			ls = append(ls, l)
		}
		h.mu.Unlock()
		for _, l := range ls {
			h.send(l, evs)
		}
		select {
		case <-t.C:
		case <-h.kick:
		}
	}
}

type event struct {
	name string
	data []byte
}

// snapshot reads the backend once for every listener.
func (h *hub) snapshot() []event {
	var evs []event
	add := func(name string, v any) {
		b, err := json.Marshal(v)
		if err == nil {
			evs = append(evs, event{name, b})
		}
	}
	add("status", h.b.Status())
	add("peers", nonNil(h.b.Peers()))
	add("searches", nonNil(h.b.Searches()))
	add("downloads", nonNil(h.b.Downloads()))
	return evs
}

// send queues what changed for l, dropping its oldest events when full.
func (h *hub) send(l *listener, evs []event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		if e.name != "status" && bytes.Equal(l.last[e.name], e.data) {
			continue
		}
		l.last[e.name] = e.data
		msg := make([]byte, 0, len(e.data)+len(e.name)+16)
		msg = append(msg, "event: "...)
		msg = append(msg, e.name...)
		msg = append(msg, "\ndata: "...)
		msg = append(msg, e.data...) // JSON: no newline inside
		msg = append(msg, "\n\n"...)
		for {
			select {
			case l.ch <- msg:
			default:
				select {
				case <-l.ch: // drop the oldest
					h.dropped.Add(1)
				default:
				}
				continue
			}
			break
		}
	}
}

// events streams the hub to one client until it leaves or the server
// shuts down.
func (hd *handler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the server's WriteTimeout is for answers, not streams
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	l := hd.hub.join()
	defer hd.hub.leave(l)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-hd.closing:
			return
		case msg := <-l.ch:
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := w.Write(msg); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
