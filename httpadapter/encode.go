package httpadapter

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Responses are small JSON objects of a few known shapes, written on every
// request: they are appended by hand to a pooled buffer and sent with one
// Write, without reflection or boxing. The response types keep their json
// tags as the description of their encoding, and their appendJSON methods
// write exactly what encoding/json writes for them (TestAppendJSON checks
// every type against json.Marshal).

// Header values of every JSON response. They are assigned to the header map
// directly, since Header.Set would canonicalize the key and allocate a new
// slice. They are never written; their capacity of 1 makes a later
// Header.Add copy them rather than append in place.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	nosniff         = []string{"nosniff"}
)

// writeData answers 200 with the envelope around the data that appendData
// appends.
func (h *Handler) writeData(w http.ResponseWriter, r *http.Request, appendData func([]byte) []byte) {
	h.writeEnvelope(w, r, http.StatusOK, h.message(MessageSuccess, ""), "", appendData)
}

// writeEnvelope answers status with the envelope of the sign-in routes,
//
//	{"success": …, "message": …, "code": …, "data": …, "timestamp": …}
//
// in that order, without "code" if code is "" and without "data" if
// appendData is nil. An envelope without a code is a success.
func (h *Handler) writeEnvelope(w http.ResponseWriter, r *http.Request, status int, message, code string, appendData func([]byte) []byte) {
	h.writeJSON(w, r, status, func(b []byte) []byte {
		o := beginObject(b)
		o.bool("success", code == "")
		o.string("message", message)
		o.stringOmitEmpty("code", code)
		if appendData != nil {
			o.value("data", appendData)
		}
		o.key("timestamp")
		o.b = appendTimestamp(o.b, h.clock.Now())
		return o.end()
	})
}

// writeJSON answers status with the JSON that appendBody appends, and a
// newline, as the body of a response that no cache may keep (it may hold
// tokens or codes). It sets no Content-Length: the body goes out in one
// Write, and net/http's server counts a response that fits its buffer (2
// KB; every response of the sign-in routes does) itself.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, appendBody func([]byte) []byte) {
	buf := h.buffer()
	defer h.release(buf)
	body := append(appendBody(buf.AvailableBuffer()), '\n')
	buf.Write(body) // in place, unless body outgrew buf: then buf grows for the next one
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Cache-Control"] = noStore
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

// A jsonObject appends a JSON object to a buffer, member by member, in the
// order of the calls:
//
//	o := beginObject(b)
//	o.string("requestId", id)
//	o.int("expiresIn", 300)
//	b = o.end()
//
// Keys are written as given: they are constants of this package that need
// no escaping.
type jsonObject struct {
	b    []byte
	more bool // a member was written: the next one needs a comma
}

// beginObject starts an object at the end of b.
func beginObject(b []byte) jsonObject { return jsonObject{b: append(b, '{')} }

// end closes the object and returns the buffer.
func (o *jsonObject) end() []byte { return append(o.b, '}') }

func (o *jsonObject) key(k string) {
	if o.more {
		o.b = append(o.b, ',')
	}
	o.more = true
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObject) string(k, v string) {
	o.key(k)
	o.b = appendString(o.b, v)
}

// stringOmitEmpty is string for a field tagged omitempty: nothing if v is
// "".
func (o *jsonObject) stringOmitEmpty(k, v string) {
	if v != "" {
		o.string(k, v)
	}
}

func (o *jsonObject) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *jsonObject) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

// time writes t as time.Time.MarshalJSON does: RFC 3339 with as many
// digits of the second as it takes.
func (o *jsonObject) time(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
}

// value writes a member whose value appendValue appends.
func (o *jsonObject) value(k string, appendValue func([]byte) []byte) {
	o.key(k)
	o.b = appendValue(o.b)
}

// appendString appends s as a JSON string, escaped as encoding/json escapes
// it (with HTML characters escaped, invalid UTF-8 replaced). Strings of
// printable ASCII, which are nearly all the adapter writes, are copied as
// they are; any other goes through json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTimestamp appends t as the JSON string of the envelope's time: RFC
// 3339 in UTC with milliseconds, "2026-02-03T14:46:16.374Z". It is
// t.UTC().Format("2006-01-02T15:04:05.000Z"), in a third of the time:
// time.RFC3339 has a fast path, and a layout of one's own does not.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339) // "2026-02-03T14:46:16Z"
	ms := t.Nanosecond() / int(time.Millisecond)
	b = b[:len(b)-1] // the Z
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

// appendEmptyObject appends {}.
func appendEmptyObject(b []byte) []byte { return append(b, "{}"...) }
