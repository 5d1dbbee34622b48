package phoneauth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

// botRange is a range of 1,000 British mobile numbers: botPhone(i) is its
// i-th number.
const botRange = "+447400123"

func botPhone(i int) string { return fmt.Sprintf("%s%03d", botRange, i) }

// bot asks for a code to botPhone(i) as a fresh client: its own address
// and device id.
func bot(f *fixture, i int) error {
	_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{
		Phone: botPhone(i), IP: fmt.Sprintf("198.18.%d.%d", i/250, i%250+1), DeviceID: fmt.Sprintf("bot-%d", i),
	})
	return err
}

func TestNumberRange(t *testing.T) {
	for _, c := range []struct {
		e164   string
		digits int
		want   string
	}{
		{"+447400123456", 3, "+447400123"},
		{"+447400123456", 1, "+44740012345"},
		{"+923012345678", 6, "+923012"},
		{"+2901234", 6, "+2"},
		{"+1", 3, "+1"},
		{"", 3, ""},
		// No digits, or a negative number of them, drop none.
		{"+447400123456", 0, "+447400123456"},
		{"+447400123456", -2, "+447400123456"},
		{"", -1, ""},
		{"+", -1, "+"},
	} {
		if got := phoneauth.NumberRange(c.e164, c.digits); got != c.want {
			t.Errorf("NumberRange(%q, %d) = %q, want %q", c.e164, c.digits, got, c.want)
		}
	}
}

// TestGuardThrottlesUnverifiedRange: by default, 40 unverified sends from 40
// addresses into one range of 1,000 numbers deliver at most 20, whether
// they come at once or one a minute; the refusals are ErrRangeThrottled
// with a Retry-After, reported as EventRangeThrottled with the range, and
// other ranges are served meanwhile.
func TestGuardThrottlesUnverifiedRange(t *testing.T) {
	for _, every := range []time.Duration{0, time.Minute} {
		f := newFixture(t)
		throttled := 0
		for i := range 40 {
			err := bot(f, i)
			var rl *phoneauth.RateLimitError
			switch {
			case err == nil:
			case errors.Is(err, phoneauth.ErrRangeThrottled) && errors.As(err, &rl) && rl.Scope == phoneauth.ScopeRangeGuard:
				throttled++
				if rl.RetryAfter <= 0 || rl.RetryAfter > 6*time.Minute {
					t.Errorf("retry after %s, want (0, 6m]: one unverified code every 6 minutes", rl.RetryAfter)
				}
			default:
				t.Fatalf("request %d: %v, want nil or ErrRangeThrottled", i, err)
			}
			f.clock.Advance(every)
		}
		sent := f.sentCount()
		if sent > 20 || sent+throttled != 40 {
			t.Errorf("every %s: %d of 40 unverified codes sent (%d throttled), want at most 20", every, sent, throttled)
		}
		if n := f.countEvents(phoneauth.EventRangeThrottled, phoneauth.ErrRangeThrottled); n != throttled {
			t.Errorf("%d EventRangeThrottled for %d refusals", n, throttled)
		}
		f.mu.Lock()
		for _, e := range f.events {
			if e.Kind == phoneauth.EventRangeThrottled && (e.Range != botRange || e.Region != "GB" || e.Scope != phoneauth.ScopeRangeGuard) {
				t.Errorf("event %+v, want range %s, region GB", e, botRange)
			}
		}
		f.mu.Unlock()
		f.request(phonePK) // another range
		t.Logf("every %s: %d of 40 sent", every, sent)
	}
}

// TestGuardCreditsVerifiedCodes: a range whose codes are verified is never
// throttled, however many of them it is sent; only PerRange bounds it. So
// with a Limiter that has no BatchRefunder too.
func TestGuardCreditsVerifiedCodes(t *testing.T) {
	for _, lim := range []phoneauth.Limiter{phoneauth.NewMemoryLimiter(0), plainLimiter{phoneauth.NewMemoryLimiter(0)}} {
		testGuardCreditsVerifiedCodes(t, lim)
	}
}

func testGuardCreditsVerifiedCodes(t *testing.T, lim phoneauth.Limiter) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Limits.PerRange, c.Limiter = phoneauth.Unlimited, lim })
	ctx := context.Background()
	for i := range 200 {
		if err := bot(f, i); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		dev := fmt.Sprintf("bot-%d", i)
		if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: botPhone(i), Code: f.lastCode(), Device: phoneauth.Device{ID: dev}, IP: phoneauth.NoIP}); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
		f.clock.Advance(10 * time.Second)
	}
	if n := f.countEvents(phoneauth.EventRangeThrottled, nil); n != 0 {
		t.Errorf("%d throttled", n)
	}
}

// TestGuardLiftsAsConversionsRecover: a throttled range gets one code per
// refill; once that code is verified, the range has its event back at
// once, and the next one is sent without waiting.
func TestGuardLiftsAsConversionsRecover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	i := 0
	for ; bot(f, i) == nil; i++ {
	}
	if i != 10 {
		t.Fatalf("%d unverified codes before the range is throttled, want the default 10", i)
	}
	var rl *phoneauth.RateLimitError
	if err := bot(f, 100); !errors.As(err, &rl) || rl.Scope != phoneauth.ScopeRangeGuard {
		t.Fatalf("throttled range: %v", err)
	}
	f.clock.Advance(rl.RetryAfter)
	if err := bot(f, 101); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	if err := bot(f, 102); !errors.Is(err, phoneauth.ErrRangeThrottled) {
		t.Fatalf("second code after one refill: %v, want throttled", err)
	}
	if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: botPhone(101), Code: f.lastCode(), Device: phoneauth.Device{ID: "bot-101"}, IP: phoneauth.NoIP}); err != nil {
		t.Fatal(err)
	}
	if err := bot(f, 103); err != nil {
		t.Fatalf("after a verified code: %v, want the range's event back", err)
	}
}

// TestRangeAndCountryBudgets: PerRange bounds codes to a range even when
// they are verified; PerCountry bounds a country, CountryBudgets overrides
// it for one; their refusals are ordinary rate limits.
func TestRangeAndCountryBudgets(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *phoneauth.Config) { c.Limits.PerRange = phoneauth.Limit{Events: 3, Per: time.Hour} })
	for i := range 3 {
		if err := bot(f, i); err != nil {
			t.Fatal(err)
		}
		if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: botPhone(i), Code: f.lastCode(), Device: phoneauth.Device{ID: fmt.Sprintf("bot-%d", i)}, IP: phoneauth.NoIP}); err != nil {
			t.Fatal(err)
		}
	}
	err := bot(f, 3)
	retryAfter(t, err, phoneauth.ScopeRange)
	if errors.Is(err, phoneauth.ErrRangeThrottled) {
		t.Error("a range budget's refusal matches ErrRangeThrottled")
	}

	f = newFixture(t, func(c *phoneauth.Config) {
		c.Limits.PerCountry = phoneauth.Limit{Events: 2, Per: time.Hour}
		c.Limits.CountryBudgets = map[string]phoneauth.Limit{"IN": {Events: 4, Per: time.Hour}}
	})
	request := func(phone string) error {
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phone, IP: phoneauth.NoIP})
		return err
	}
	for i := range 2 {
		if err := request(spreadFormatted(0, i)); err != nil { // PK
			t.Fatal(err)
		}
	}
	retryAfter(t, request(spreadFormatted(0, 2)), phoneauth.ScopeCountry)
	for i := range 4 {
		if err := request(spreadFormatted(1, i)); err != nil { // IN
			t.Fatal(err)
		}
	}
	retryAfter(t, request(spreadFormatted(1, 4)), phoneauth.ScopeCountry)
}

// spreadFormatted is the i-th number of spreadFormats[country].
func spreadFormatted(country, i int) string { return fmt.Sprintf(spreadFormats[country], i) }

// TestCountryGuard: a pump spread over many ranges of one country is
// throttled by the country's guard (a quarter of Global by default), and
// the other countries are still served.
func TestCountryGuard(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) { c.Limits.Global = phoneauth.Limit{Events: 40, Per: time.Hour} })
	ctx := context.Background()
	sent := 0
	for i := range 30 {
		_, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: spreadFormatted(4, i), IP: phoneauth.NoIP}) // GB, one range each
		var rl *phoneauth.RateLimitError
		switch {
		case err == nil:
			sent++
		case errors.As(err, &rl) && rl.Scope == phoneauth.ScopeCountryGuard && errors.Is(err, phoneauth.ErrRangeThrottled):
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if sent != 10 {
		t.Errorf("%d unverified codes into GB, want 10 (40 / 4)", sent)
	}
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: phonePK, IP: phoneauth.NoIP}); err != nil {
		t.Errorf("another country: %v", err)
	}
}

// TestGuardConfig: the defaults, their scaling with Global, and bad values.
func TestGuardConfig(t *testing.T) {
	l := phoneauth.DefaultLimits()
	if l.RangeDigits != 3 || l.PerRange != (phoneauth.Limit{Events: 30, Per: time.Hour}) ||
		l.UnverifiedPerRange != (phoneauth.Limit{Events: 10, Per: time.Hour}) ||
		l.PerCountry != (phoneauth.Limit{Events: l.Global.Events / 2, Per: l.Global.Per}) ||
		l.UnverifiedPerCountry != (phoneauth.Limit{Events: l.Global.Events / 4, Per: l.Global.Per}) {
		t.Errorf("defaults %+v", l)
	}
	f := newFixture(t, func(c *phoneauth.Config) { c.Limits.Global = phoneauth.Unlimited })
	for i := range 300 { // no country limit without a global one
		if _, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: spreadFormatted(0, i), IP: phoneauth.NoIP}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	for name, bad := range map[string]func(*phoneauth.Limits){
		"RangeDigits":          func(l *phoneauth.Limits) { l.RangeDigits = 7 },
		"RangeDigits ":         func(l *phoneauth.Limits) { l.RangeDigits = -1 },
		"PerRange":             func(l *phoneauth.Limits) { l.PerRange = phoneauth.Limit{Events: 3} },
		"UnverifiedPerCountry": func(l *phoneauth.Limits) { l.UnverifiedPerCountry = phoneauth.Limit{Events: 3} },
		`CountryBudgets: unknown region "gb"`: func(l *phoneauth.Limits) {
			l.CountryBudgets = map[string]phoneauth.Limit{"gb": {Events: 1, Per: time.Hour}}
		},
		`CountryBudgets: unknown region "XX"`: func(l *phoneauth.Limits) {
			l.CountryBudgets = map[string]phoneauth.Limit{"XX": {Events: 1, Per: time.Hour}}
		},
		`CountryBudgets["GB"]`: func(l *phoneauth.Limits) { l.CountryBudgets = map[string]phoneauth.Limit{"GB": {}} },
	} {
		cfg := validConfig(t)
		bad(&cfg.Limits)
		_, err := phoneauth.New(cfg)
		if !errors.Is(err, phoneauth.ErrInvalidConfig) || !strings.Contains(err.Error(), strings.TrimSpace(name)) {
			t.Errorf("%s: New = %v", name, err)
		}
	}
	cfg := validConfig(t)
	cfg.Limits.CountryBudgets = map[string]phoneauth.Limit{phoneauth.RegionNonGeographic: phoneauth.Unlimited, "GB": {Events: 5, Per: time.Hour}}
	if _, err := phoneauth.New(cfg); err != nil {
		t.Errorf("valid CountryBudgets: %v", err)
	}
}

// countingLimiter counts the calls of each kind a BatchLimiter gets.
type countingLimiter struct {
	*phoneauth.MemoryLimiter
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingLimiter) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
}

func (c *countingLimiter) Allow(ctx context.Context, key string, l phoneauth.Limit, now time.Time) (bool, time.Duration, error) {
	c.count("allow")
	return c.MemoryLimiter.Allow(ctx, key, l, now)
}

func (c *countingLimiter) AllowAll(ctx context.Context, checks []phoneauth.LimitCheck, now time.Time) (int, time.Duration, error) {
	c.count("allow_all")
	return c.MemoryLimiter.AllowAll(ctx, checks, now)
}

func (c *countingLimiter) Refund(ctx context.Context, key string, l phoneauth.Limit, now time.Time) error {
	c.count("refund")
	return c.MemoryLimiter.Refund(ctx, key, l, now)
}

func (c *countingLimiter) Reset(ctx context.Context, key string) error {
	c.count("reset")
	return c.MemoryLimiter.Reset(ctx, key)
}

func (c *countingLimiter) RefundAll(ctx context.Context, refunds []phoneauth.LimitCheck, resets []string, now time.Time) error {
	c.count("refund_all")
	return c.MemoryLimiter.RefundAll(ctx, refunds, resets, now)
}

func (c *countingLimiter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

// TestGuardRoundTrips: the budgets and the guard add no limiter call to a
// request (one AllowAll holds every check) nor to a verification: the
// guard's refunds share one RefundAll with the reset of the failed-verify
// budget, which a verification made before the guard existed.
func TestGuardRoundTrips(t *testing.T) {
	lim := &countingLimiter{MemoryLimiter: phoneauth.NewMemoryLimiter(0), calls: map[string]int{}}
	f := newFixture(t, func(c *phoneauth.Config) { c.Limiter = lim })
	f.request(phonePK)
	if got := lim.take(); fmt.Sprint(got) != "map[allow_all:1]" {
		t.Errorf("request: limiter calls %v, want one AllowAll", got)
	}
	if _, err := f.verify(phonePK, f.lastCode()); err != nil {
		t.Fatal(err)
	}
	if got := lim.take(); fmt.Sprint(got) != "map[allow:1 allow_all:1 refund_all:1]" {
		t.Errorf("verify: limiter calls %v, want the address AllowAll, the budget's Allow, one RefundAll", got)
	}
}

// TestGuardNotLiftedByCaptcha: with a captcha asked only over the limits,
// a throttled range stays throttled for a request with a solved captcha:
// the refusal is ErrRangeThrottled, not ErrCaptchaRequired.
func TestGuardNotLiftedByCaptcha(t *testing.T) {
	f := newFixture(t, func(c *phoneauth.Config) {
		c.Captcha = captchaFunc(func(context.Context, string, string) error { return nil })
		c.CaptchaOnlyOverLimit = true
	})
	for i := range 10 {
		if err := bot(f, i); err != nil {
			t.Fatal(err)
		}
	}
	for _, token := range []string{"", "solved"} {
		_, err := f.auth.Request(context.Background(), phoneauth.RequestParams{Phone: botPhone(50), IP: "198.18.9.9", CaptchaToken: token})
		if !errors.Is(err, phoneauth.ErrRangeThrottled) || errors.Is(err, phoneauth.ErrCaptchaRequired) {
			t.Errorf("captcha token %q: %v, want ErrRangeThrottled only", token, err)
		}
	}
}
