package httpadapter_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/phoneauth/phoneauth/httpadapter"
)

// A number range throttled by the conversion guard is answered 429 with
// its own code, range_throttled, and a Retry-After (6 minutes: one
// unverified code of the default 10 an hour), like any rate limit; the
// other ranges are served.
func TestRangeThrottledOverHTTP(t *testing.T) {
	f := newFixture(t, nil)
	request := func(i int) *httptest.ResponseRecorder {
		return f.do("POST", "/auth/otp/request", requestBody(fmt.Sprintf("+447400123%03d", i), fmt.Sprintf("d%d", i)),
			"RemoteAddr", fmt.Sprintf("198.51.100.%d:1234", i+1))
	}
	for i := range 10 {
		decodeEnvelope(t, request(i), http.StatusOK)
	}
	w := request(10)
	wantError(t, w, http.StatusTooManyRequests, httpadapter.CodeRangeThrottled, "Too many requests to this number range; try again later")
	if ra := w.Header().Get("Retry-After"); ra != "360" {
		t.Errorf("Retry-After %q, want 360", ra)
	}
	decodeEnvelope(t, f.do("POST", "/auth/otp/request", requestBody(pkPhone(1), "d-other"), "RemoteAddr", "198.51.100.200:1234"), http.StatusOK)
}
