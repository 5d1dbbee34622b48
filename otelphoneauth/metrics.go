// Package otelphoneauth turns the events of a phoneauth.Authenticator into
// OpenTelemetry metrics, and serves them to Prometheus.
//
//	m, handler, err := otelphoneauth.NewPrometheus()
//	if err != nil { … }
//	cfg.Events = m.Observe // phoneauth.Config
//	mux.Handle("GET /metrics", handler)
//
// Or record into a MeterProvider of your own (an OTLP exporter…) with New.
//
// # Metrics
//
// The names below are those Prometheus sees; dashboards and alerts can rely
// on them (docs/grafana-dashboard.json is a ready dashboard). Every label
// takes a bounded set of values. The counters of store errors and of each
// limit start at zero, so that rates and alerts work before the first
// event.
//
//   - phoneauth_codes_sent_total{channel,country}: codes the Sender
//     accepted (EventCodeSent), by channel ("sms", "whatsapp") and the
//     phone's region ("PK", or "001" for satellite and international
//     networks). Test numbers count too, although nothing is sent to them.
//   - phoneauth_send_failures_total{channel,country}: codes the Sender
//     failed to deliver (EventSendFailed; behind delivery.Async, which
//     answers before sending, its EventDeliveryFailed).
//   - phoneauth_verifications_total{result,country}: codes checked, by
//     result: "success" (the code was right), "wrong_code" or
//     "not_pending" (no code to check: none requested, expired, used,
//     attempts exhausted); attempts the phone's failed-verify budget
//     refused are phoneauth_limit_refusals_total{limit="verify"}. success
//     over phoneauth_codes_sent_total, per country, is the conversion
//     rate: the first thing to fall under SMS pumping.
//   - phoneauth_limit_refusals_total{limit}: requests a limit refused
//     (EventRateLimited, and EventRangeThrottled for the conversion
//     guard), by limit: "cooldown", "ip", "device", "phone", "range",
//     "country", "range_guard", "country_guard", "global", "verify"… A
//     rise of limit="global" means every user is being refused; of
//     limit="range_guard", that a number range is being pumped.
//   - phoneauth_guard_throttled_ranges{scope}: the number ranges
//     (scope="range") and countries (scope="country") the conversion
//     guard refused a request for in the last ThrottledWindow (by the
//     events' time): how many ranges are being pumped right now.
//   - phoneauth_store_errors_total: operations that failed because the
//     Store or the Limiter did (phoneauth.ErrStoreUnavailable); which ones
//     is in the histogram below, outcome="error".
//   - phoneauth_operation_duration_seconds{operation,outcome}: a histogram
//     of the Authenticator's operations ("request", "resend", "verify",
//     "refresh", "logout"…) by outcome: "ok", "refused" (the client's
//     input, a limit, a wrong code) or "error" (the store, the sender or
//     the captcha provider failed).
package otelphoneauth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/phoneauth/phoneauth"
)

// instrumentationName is the meter's name: the module path.
const instrumentationName = "github.com/phoneauth/phoneauth/otelphoneauth"

// durationBuckets are the bounds of the duration histogram, in seconds:
// from a memory store's tens of microseconds to a slow provider's seconds.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics records phoneauth events as OpenTelemetry instruments. It is safe
// for concurrent use.
type Metrics struct {
	codesSent     metric.Int64Counter
	sendFailures  metric.Int64Counter
	verifications metric.Int64Counter
	refusals      metric.Int64Counter
	storeErrors   metric.Int64Counter
	durations     metric.Float64Histogram
	series        seriesCache
	throttled     throttledSet
}

// ThrottledWindow is how long a range or country the conversion guard
// refused counts in phoneauth_guard_throttled_ranges after its last
// refusal.
const ThrottledWindow = 5 * time.Minute

// New returns Metrics whose instruments come from mp's meter; a nil mp
// means otel.GetMeterProvider().
func New(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(instrumentationName)
	m := &Metrics{}
	var errs [7]error
	m.codesSent, errs[0] = meter.Int64Counter("phoneauth.codes_sent", metric.WithUnit("{code}"),
		metric.WithDescription("Codes the Sender accepted, by channel and the phone's country."))
	m.sendFailures, errs[1] = meter.Int64Counter("phoneauth.send_failures", metric.WithUnit("{code}"),
		metric.WithDescription("Codes the Sender failed to deliver, by channel and the phone's country."))
	m.verifications, errs[2] = meter.Int64Counter("phoneauth.verifications", metric.WithUnit("{attempt}"),
		metric.WithDescription("Codes checked, by result (success, wrong_code, not_pending) and the phone's country."))
	m.refusals, errs[3] = meter.Int64Counter("phoneauth.limit_refusals", metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by a limit, by limit."))
	m.storeErrors, errs[4] = meter.Int64Counter("phoneauth.store_errors", metric.WithUnit("{operation}"),
		metric.WithDescription("Operations that failed because the Store or the Limiter did."))
	m.durations, errs[5] = meter.Float64Histogram("phoneauth.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the Authenticator's operations, by operation and outcome (ok, refused, error)."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	_, errs[6] = meter.Int64ObservableGauge("phoneauth.guard.throttled_ranges", metric.WithUnit("{range}"),
		metric.WithDescription("Number ranges (scope=range) and countries (scope=country) the conversion guard refused in the last 5 minutes."),
		metric.WithInt64Callback(m.throttled.observe))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	ctx := context.Background()
	m.storeErrors.Add(ctx, 0)
	for _, limit := range []string{"cooldown", "ip", "device", "phone", "range", "country", "range_guard", "country_guard", "global", "verify"} {
		m.refusals.Add(ctx, 0, m.series.get(labels{k1: "limit", v1: limit}))
	}
	return m, nil
}

// Observe records one event. Set it as phoneauth.Config.Events, or call it
// from your own Events function. A Metrics that New did not make (a zero
// or nil one) records nothing.
func (m *Metrics) Observe(ctx context.Context, e phoneauth.Event) {
	if m == nil || m.codesSent == nil {
		return
	}
	m.throttled.tick(e.Time)
	switch e.Kind {
	case phoneauth.EventCodeSent:
		m.codesSent.Add(ctx, 1, m.series.get(labels{"channel", string(e.Channel), "country", country(e)}))
	case phoneauth.EventSendFailed, phoneauth.EventDeliveryFailed:
		m.sendFailures.Add(ctx, 1, m.series.get(labels{"channel", string(e.Channel), "country", country(e)}))
	case phoneauth.EventVerified:
		m.verifications.Add(ctx, 1, m.series.get(labels{"country", country(e), "result", "success"}))
	case phoneauth.EventVerifyFailed:
		result := "not_pending"
		if errors.Is(e.Err, phoneauth.ErrInvalidOTP) {
			result = "wrong_code"
		}
		m.verifications.Add(ctx, 1, m.series.get(labels{"country", country(e), "result", result}))
	case phoneauth.EventRateLimited:
		m.refusals.Add(ctx, 1, m.series.get(labels{k1: "limit", v1: e.Scope}))
	case phoneauth.EventRangeThrottled:
		m.refusals.Add(ctx, 1, m.series.get(labels{k1: "limit", v1: e.Scope}))
		m.throttled.add(e)
	case phoneauth.EventOperationDone:
		if errors.Is(e.Err, phoneauth.ErrStoreUnavailable) {
			m.storeErrors.Add(ctx, 1)
		}
		m.durations.Record(ctx, e.Duration.Seconds(), m.series.get(labels{"operation", e.Operation, "outcome", outcome(e.Err)}))
	}
}

// country is the phone's region: the event's, else its phone's (the
// events of delivery.Async carry no region), else "unknown".
func country(e phoneauth.Event) string {
	if e.Region != "" {
		return e.Region
	}
	if ph, err := phoneauth.ParsePhone(e.Phone, ""); err == nil {
		return ph.Region
	}
	return "unknown"
}

// outcome classifies an operation's error: "ok", "error" when something
// the server depends on failed, "refused" otherwise.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, phoneauth.ErrStoreUnavailable), errors.Is(err, phoneauth.ErrSendFailed), errors.Is(err, phoneauth.ErrCaptchaUnavailable):
		return "error"
	}
	return "refused"
}

// maxThrottled bounds throttledSet: beyond it, new ranges are not counted
// until old ones leave the window.
const maxThrottled = 100_000

// throttledSet remembers when the guard last refused each range and
// country, for phoneauth_guard_throttled_ranges. Its time is the events'
// (the Authenticator's Clock, so that a ManualClock drives it): the latest
// time of any event observed.
type throttledSet struct {
	latest atomic.Int64 // Unix nanoseconds
	mu     sync.Mutex
	last   map[string]time.Time // by "range:+447400123" or "country:GB"
}

// tick moves the set's time forward to t.
func (s *throttledSet) tick(t time.Time) {
	n := t.UnixNano()
	for {
		old := s.latest.Load()
		if n <= old || s.latest.CompareAndSwap(old, n) {
			return
		}
	}
}

func (s *throttledSet) add(e phoneauth.Event) {
	key := "country:" + e.Region
	if e.Scope == phoneauth.ScopeRangeGuard {
		key = "range:" + e.Range
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = make(map[string]time.Time)
	}
	if _, ok := s.last[key]; ok || len(s.last) < maxThrottled {
		s.last[key] = e.Time
	}
}

// observe reports the ranges and countries refused within ThrottledWindow
// of the latest event, and forgets the others. With no event at all, the
// gauge keeps its value.
func (s *throttledSet) observe(_ context.Context, o metric.Int64Observer) error {
	now := time.Unix(0, s.latest.Load())
	s.mu.Lock()
	var ranges, countries int64
	for key, t := range s.last {
		switch {
		case now.Sub(t) >= ThrottledWindow:
			delete(s.last, key)
		case key[0] == 'r':
			ranges++
		default:
			countries++
		}
	}
	s.mu.Unlock()
	o.Observe(ranges, metric.WithAttributes(attribute.String("scope", "range")))
	o.Observe(countries, metric.WithAttributes(attribute.String("scope", "country")))
	return nil
}

// labels are the names and values of a series' labels, at most two.
type labels struct{ k1, v1, k2, v2 string }

// maxCachedSeries bounds seriesCache; the library's labels take far fewer
// values.
const maxCachedSeries = 4096

// seriesCache keeps the attribute set of each series, built once, so that
// recording a measurement allocates nothing.
type seriesCache struct {
	mu   sync.RWMutex
	sets map[labels]metric.MeasurementOption
}

func (c *seriesCache) get(l labels) metric.MeasurementOption {
	c.mu.RLock()
	o, ok := c.sets[l]
	c.mu.RUnlock()
	if ok {
		return o
	}
	kvs := []attribute.KeyValue{attribute.String(l.k1, l.v1)}
	if l.k2 != "" {
		kvs = append(kvs, attribute.String(l.k2, l.v2))
	}
	o = metric.WithAttributeSet(attribute.NewSet(kvs...))
	c.mu.Lock()
	if c.sets == nil {
		c.sets = make(map[labels]metric.MeasurementOption)
	}
	if len(c.sets) < maxCachedSeries {
		c.sets[l] = o
	}
	c.mu.Unlock()
	return o
}
