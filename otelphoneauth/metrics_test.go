package otelphoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/otelphoneauth"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is an Authenticator whose events feed Prometheus metrics.
type fixture struct {
	auth    *phoneauth.Authenticator
	clock   *phoneauth.ManualClock
	metrics http.Handler
	codes   map[string]string // last code by phone
	sendErr error
}

func newFixture(t *testing.T, configure ...func(*phoneauth.Config)) *fixture {
	t.Helper()
	m, h, err := otelphoneauth.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: phoneauth.NewManualClock(epoch), metrics: h, codes: map[string]string{}}
	key, _ := phoneauth.GenerateEd25519Key("k")
	keys, _ := phoneauth.NewKeySet(key)
	cfg := phoneauth.Config{
		Store: phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(_ context.Context, msg phoneauth.Message) (string, error) {
			f.clock.Advance(20 * time.Millisecond) // the provider takes 20 ms
			f.codes[msg.To] = msg.Code
			return "id", f.sendErr
		}),
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		Tokens: phoneauth.TokenConfig{Keys: keys},
		Clock:  f.clock,
		Events: m.Observe,
	}
	for _, c := range configure {
		c(&cfg)
	}
	if f.auth, err = phoneauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// scrape reads the metrics handler's Prometheus text into a map from
// `name{label="value",…}` (labels sorted) to value; a histogram gives its
// _count and _sum.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	return parseMetrics(t, w.Body.String())
}

// parseMetrics parses Prometheus text as scrape does.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	out := map[string]float64{}
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			series := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[series] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[series] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				hist := strings.TrimSuffix(name, "_seconds") + "_seconds"
				out[hist+"_count{"+strings.Join(labels, ",")+"}"] = float64(m.GetHistogram().GetSampleCount())
				out[hist+"_sum{"+strings.Join(labels, ",")+"}"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// absent, as a wanted value, means that the series must not exist.
const absent = -1

// check compares scraped series with the wanted ones.
func check(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		g, ok := got[series]
		switch {
		case v == absent && ok:
			t.Errorf("%s = %v, want no such series", series, g)
		case v != absent && (!ok || g != v):
			t.Errorf("%s = %v (present: %v), want %v", series, g, ok, v)
		}
	}
	if t.Failed() {
		var all []string
		for s, v := range got {
			all = append(all, fmt.Sprintf("%s %v", s, v))
		}
		slices.Sort(all)
		t.Logf("scraped:\n%s", strings.Join(all, "\n"))
	}
}

// TestMetricsOfFlows drives sign-ins, wrong codes, limits, a failed send
// and a failed store, and reads every metric back from Prometheus text.
func TestMetricsOfFlows(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const pk, in = "+923012345678", "+919876543210"

	// Two sign-ins, one by WhatsApp; one wrong code on the way.
	for _, r := range []phoneauth.RequestParams{{Phone: pk, IP: "192.0.2.1"}, {Phone: in, Channel: phoneauth.WhatsApp, IP: "192.0.2.1"}} {
		if _, err := f.auth.Request(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	wrong := "000000"
	if f.codes[pk] == wrong {
		wrong = "111111"
	}
	if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: pk, Code: wrong, IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrInvalidOTP) {
		t.Fatalf("wrong code: %v", err)
	}
	for _, phone := range []string{pk, in} {
		if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: phone, Code: f.codes[phone], IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing pending any more; the cooldown refuses a new code.
	if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: pk, Code: "123456", IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrVerificationFailed) {
		t.Fatalf("verify with nothing pending: %v", err)
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: pk, IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrRateLimited) {
		t.Fatalf("request in the cooldown: %v", err)
	}
	// A failed send.
	f.sendErr = errors.New("provider down")
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: "+4915123456789", IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Fatalf("failed send: %v", err)
	}

	got := scrape(t, f.metrics)
	for series := range got {
		if !strings.HasPrefix(series, "phoneauth_") {
			t.Errorf("unexpected series %s", series)
		}
	}
	check(t, got, map[string]float64{
		`phoneauth_codes_sent_total{channel="sms",country="PK"}`:                              1,
		`phoneauth_codes_sent_total{channel="whatsapp",country="IN"}`:                         1,
		`phoneauth_send_failures_total{channel="sms",country="DE"}`:                           1,
		`phoneauth_verifications_total{country="IN",result="success"}`:                        1,
		`phoneauth_verifications_total{country="PK",result="success"}`:                        1,
		`phoneauth_verifications_total{country="PK",result="wrong_code"}`:                     1,
		`phoneauth_verifications_total{country="PK",result="not_pending"}`:                    1,
		`phoneauth_limit_refusals_total{limit="cooldown"}`:                                    1,
		`phoneauth_operation_duration_seconds_count{operation="request",outcome="ok"}`:        2,
		`phoneauth_operation_duration_seconds_sum{operation="request",outcome="ok"}`:          0.04,
		`phoneauth_operation_duration_seconds_count{operation="request",outcome="refused"}`:   1,
		`phoneauth_operation_duration_seconds_count{operation="request",outcome="error"}`:     1,
		`phoneauth_operation_duration_seconds_count{operation="verify",outcome="ok"}`:         2,
		`phoneauth_operation_duration_seconds_count{operation="verify",outcome="refused"}`:    2,
		`phoneauth_operation_duration_seconds_sum{operation="verify",outcome="ok"}`:           0,
		`phoneauth_store_errors_total{}`:                                                      0,
		`phoneauth_limit_refusals_total{limit="global"}`:                                      0,
		`phoneauth_operation_duration_seconds_count{operation="refresh",outcome="ok"}`:        absent,
		`phoneauth_operation_duration_seconds_count{operation="resend",outcome="ok"}`:         absent,
		`phoneauth_operation_duration_seconds_count{operation="request",outcome="throttled"}`: absent,
	})
}

// TestMetricsOfFailures: a failing store. A verification whose attempt
// fails in the store charges no failed-verify budget: it checked no code.
func TestMetricsOfFailures(t *testing.T) {
	ctx := context.Background()
	down := errors.New("connection refused")
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Store = failingStore{c.Store, down}
		c.Users = phoneauth.NewMemoryStore()
		c.Limits.FailedVerifies = phoneauth.Limit{Events: 2, Per: time.Hour}
	})
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"}); !errors.Is(err, phoneauth.ErrStoreUnavailable) {
		t.Fatalf("request: %v", err)
	}
	for range 3 {
		_, _ = f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: "+923012345678", Code: "123456", IP: "192.0.2.1"})
	}
	check(t, scrape(t, f.metrics), map[string]float64{
		`phoneauth_store_errors_total{}`: 4,
		`phoneauth_operation_duration_seconds_count{operation="request",outcome="error"}`:  1,
		`phoneauth_verifications_total{country="PK",result="not_pending"}`:                 absent, // a store failure checks no code
		`phoneauth_limit_refusals_total{limit="verify"}`:                                   0,
		`phoneauth_operation_duration_seconds_count{operation="verify",outcome="error"}`:   3,
		`phoneauth_operation_duration_seconds_count{operation="verify",outcome="refused"}`: absent,
		`phoneauth_codes_sent_total{channel="sms",country="PK"}`:                           absent,
	})
}

// failingStore fails every challenge write and attempt.
type failingStore struct {
	phoneauth.Store
	err error
}

func (s failingStore) PutChallenge(context.Context, phoneauth.Challenge) error { return s.err }
func (s failingStore) AttemptChallenge(context.Context, string, string, time.Time) (phoneauth.Challenge, error) {
	return phoneauth.Challenge{}, s.err
}

// TestObserveConcurrently: events observed from many goroutines at once
// are all counted.
func TestObserveConcurrently(t *testing.T) {
	m, h, err := otelphoneauth.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 16, 200
	countries := []string{"PK", "IN", "DE", "BR"}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				m.Observe(context.Background(), phoneauth.Event{Kind: phoneauth.EventCodeSent, Channel: phoneauth.SMS, Region: countries[(g+i)%len(countries)]})
			}
		})
	}
	wg.Wait()
	want := map[string]float64{}
	for _, c := range countries {
		want[`phoneauth_codes_sent_total{channel="sms",country="`+c+`"}`] = float64(goroutines * each / len(countries))
	}
	check(t, scrape(t, h), want)
}

// TestDeliveryFailures: delivery.Async reports failures later, with the
// phone but no region.
func TestDeliveryFailures(t *testing.T) {
	m, h, err := otelphoneauth.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Observe(ctx, phoneauth.Event{Kind: phoneauth.EventDeliveryFailed, Phone: "+4915123456789", Channel: phoneauth.SMS})
	m.Observe(ctx, phoneauth.Event{Kind: phoneauth.EventDeliveryFailed, Phone: "not a phone", Channel: phoneauth.WhatsApp})
	m.Observe(ctx, phoneauth.Event{Kind: phoneauth.EventDelivered, Phone: "+4915123456789", Channel: phoneauth.SMS})
	check(t, scrape(t, h), map[string]float64{
		`phoneauth_send_failures_total{channel="sms",country="DE"}`:           1,
		`phoneauth_send_failures_total{channel="whatsapp",country="unknown"}`: 1,
		`phoneauth_codes_sent_total{channel="sms",country="DE"}`:              absent,
	})
}

// TestGuardMetrics: the conversion guard's refusals count as
// limit="range_guard", and the throttled range shows in
// phoneauth_guard_throttled_ranges until ThrottledWindow after its last
// refusal (by the events' time).
func TestGuardMetrics(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	request := func(i int) error {
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: fmt.Sprintf("+447400123%03d", i), IP: fmt.Sprintf("198.18.0.%d", i+1)})
		return err
	}
	for i := range 12 {
		if err := request(i); i >= 10 && !errors.Is(err, phoneauth.ErrRangeThrottled) {
			t.Fatalf("request %d: %v, want ErrRangeThrottled after 10 unverified codes", i, err)
		}
	}
	check(t, scrape(t, f.metrics), map[string]float64{
		`phoneauth_limit_refusals_total{limit="range_guard"}`:   2,
		`phoneauth_limit_refusals_total{limit="country_guard"}`: 0,
		`phoneauth_guard_throttled_ranges{scope="range"}`:       1,
		`phoneauth_guard_throttled_ranges{scope="country"}`:     0,
	})
	f.clock.Advance(otelphoneauth.ThrottledWindow)
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"}); err != nil {
		t.Fatal(err) // an event, later: the set's time moves on
	}
	check(t, scrape(t, f.metrics), map[string]float64{`phoneauth_guard_throttled_ranges{scope="range"}`: 0})
}
