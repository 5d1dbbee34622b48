package httpadapter

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// envelope is the response body of the sign-in routes:
//
//	{"success": …, "message": …, "code": …, "data": …, "timestamp": …}
//
// without "code" on a success and without "data" on an error. An error may
// carry errorDetails beside its code.
type envelope struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
	errorDetails
	Data      any    `json:"data,omitempty"`
	Timestamp string `json:"timestamp"`
}

// bareError is the error body of the phone-verification routes.
type bareError struct {
	Message string `json:"message"`
	Code    string `json:"code"`
	errorDetails
}

// timestamp is the envelope's time: RFC 3339 in UTC with milliseconds,
// "2026-02-03T14:46:16.374Z". It is t.UTC().Format("2006-01-02T15:04:05.000Z")
// in a third of the time: time.RFC3339 has a fast path, and a layout of
// one's own does not.
func timestamp(t time.Time) string {
	t = t.UTC()
	b := t.AppendFormat(make([]byte, 0, len("2006-01-02T15:04:05.000Z")), time.RFC3339)
	ms := t.Nanosecond() / int(time.Millisecond)
	b = b[:len(b)-1] // the Z
	return string(append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z'))
}

// Header values of every JSON response. They are assigned to the header map
// directly, since Header.Set would canonicalize the key and allocate a new
// slice. They are never written; their capacity of 1 makes a later
// Header.Add copy them rather than append in place.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	noCache         = []string{"no-cache"}
	nosniff         = []string{"nosniff"}
)

// writeSuccess answers 200 with data, in the envelope in styleEnvelope and
// as it is in styleBare.
func (h *Handler) writeSuccess(w http.ResponseWriter, r *http.Request, st style, data any) {
	if st == styleBare {
		h.writeJSON(w, r, http.StatusOK, data)
		return
	}
	h.writeJSON(w, r, http.StatusOK, envelope{
		Success:   true,
		Message:   h.message(MessageSuccess, ""),
		Data:      data,
		Timestamp: timestamp(h.clock.Now()),
	})
}

// writeJSON answers status with body as JSON and a newline, as a response
// that no cache may keep (it may hold tokens or codes). It sets no
// Content-Length: the body goes out in one Write, and net/http's server
// counts a response that fits its buffer itself.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, body any) {
	buf := h.buffer()
	defer h.release(buf)
	if err := json.NewEncoder(buf).Encode(body); err != nil {
		// The adapter's own response types always encode.
		h.log.ErrorContext(r.Context(), "httpadapter: encoding a response", "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString(`{"message":"Internal server error","code":"internal_error"}` + "\n")
	}
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Cache-Control"] = noStore
	hdr["Pragma"] = noCache // for HTTP/1.0 caches, as RFC 6749 asks of token responses
	hdr["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		h.log.DebugContext(r.Context(), "httpadapter: writing a response", "err", err)
	}
}

// buffer returns an empty buffer from the Handler's pool.
func (h *Handler) buffer() *bytes.Buffer {
	if b, ok := h.buffers.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// release returns a buffer to the pool, unless it grew large.
func (h *Handler) release(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		h.buffers.Put(b)
	}
}
