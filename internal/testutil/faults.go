package testutil

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// A Fault is what the fault injector does to one request instead of (or
// partway through) answering it.
type Fault struct {
	// Status answers with this code (and Header) and no body.
	Status int
	Header http.Header
	// ResetAfter > 0 lets the answer start, then cuts the connection after
	// that many body bytes; StallAfter > 0 sends that many and then nothing
	// until the client gives up.
	ResetAfter, StallAfter int
}

// Faults injects faults into a registry's answers (Registry's wrap): each
// Rule applies to the first Times requests it matches, in order.
type Faults struct {
	mu    sync.Mutex
	rules []*FaultRule
	log   []string
}

// Requests lists every request seen, as "METHOD PATH RANGE".
func (f *Faults) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// FaultRule matches requests by method and path substring.
type FaultRule struct {
	Method, PathContains string
	Times                int
	Fault                Fault
	// Hits are the times of the requests it faulted and of the first one
	// after, which it let through.
	Hits []time.Time
}

// Add installs a rule and returns it, for its Hits.
func (f *Faults) Add(r FaultRule) *FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &r)
	return &r
}

// Clear removes every rule: the registry is healthy again.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules, f.log = nil, nil
}

// Injected is how many requests the rule faulted.
func (f *Faults) Injected(r *FaultRule) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return min(len(r.Hits), r.Times)
}

// After returns when the first request after the faulted ones arrived,
// and whether one did.
func (f *Faults) After(r *FaultRule) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(r.Hits) <= r.Times {
		return time.Time{}, false
	}
	return r.Hits[r.Times], true
}

func (f *Faults) match(req *http.Request) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, strings.TrimSpace(req.Method+" "+req.URL.Path+" "+req.Header.Get("Range")))
	for _, r := range f.rules {
		if r.Method != req.Method || !strings.Contains(req.URL.Path, r.PathContains) {
			continue
		}
		if len(r.Hits) <= r.Times {
			r.Hits = append(r.Hits, time.Now())
		}
		if len(r.Hits) <= r.Times {
			fault := r.Fault
			return &fault
		}
	}
	return nil
}

// Wrap is Registry's wrap argument.
func (f *Faults) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fault := f.match(req)
		switch {
		case fault == nil:
			next.ServeHTTP(w, req)
		case fault.Status != 0:
			for k, v := range fault.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(fault.Status)
		default:
			next.ServeHTTP(&faultyWriter{ResponseWriter: w, req: req, fault: *fault}, req)
		}
	})
}

// faultyWriter passes the answer through until its fault's byte count.
type faultyWriter struct {
	http.ResponseWriter
	req   *http.Request
	fault Fault
	n     int
}

func (w *faultyWriter) Write(p []byte) (int, error) {
	limit := max(w.fault.ResetAfter, w.fault.StallAfter)
	if w.n+len(p) < limit {
		w.n += len(p)
		return w.ResponseWriter.Write(p)
	}
	w.ResponseWriter.Write(p[:limit-w.n])
	w.ResponseWriter.(http.Flusher).Flush()
	if w.fault.StallAfter > 0 {
		<-w.req.Context().Done()
	}
	panic(http.ErrAbortHandler) // net/http closes the connection mid-answer
}
