package otelphoneauth_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/otelphoneauth"
)

var update = flag.Bool("update", false, "rewrite docs/metrics-simulation.svg from the simulation")

// The simulated traffic: three hours of ordinary users, with an SMS
// pumping bot in the middle, against an Authenticator with its default
// limits and policy, and once more without the number-range and country
// limits (the conversion guard off) for comparison.
const (
	simMinutes   = 180
	attackStart  = 60  // minute the bot starts
	attackEnd    = 150 // minute it stops
	usersPerHour = 240 // ordinary users asking for a code
	botPerMinute = 40  // the bot's requests
	// botRange is the bot's number range: 1,000 numbers, each request from
	// a fresh address and device id; botCountry is theirs.
	botRange, botCountry = "+447400123", "GB"
	// others is the key of the series of all countries but the bot's, all
	// the key of all countries.
	others, all = "others", ""
)

// ordinaryCountries are where ordinary users' numbers come from, with a
// format for a valid mobile number of each.
var ordinaryCountries = []struct{ country, format string }{
	{"PK", "+92300%07d"}, {"PK", "+92301%07d"}, {"IN", "+9198%08d"}, {"DE", "+49151%08d"},
	{"US", "+1202555%04d"}, {"BR", "+55119%08d"},
}

// simulation holds the per-minute series of a run, as a dashboard would
// plot them (each is the increase of a counter over the minute).
type simulation struct {
	// Codes sent and successful verifications, by country, for all
	// countries (all) and for those the bot does not target (others).
	sent     map[string][]float64
	verified map[string][]float64
	refusals map[string][]float64 // limit refusals, by limit
	// conversion is verified / sent over the last 15 minutes, keyed as
	// sent.
	conversion map[string][]float64
	// throttled is phoneauth_guard_throttled_ranges{scope="range"} at the
	// end of each minute.
	throttled []float64
	// Ordinary users (not the bot): asked for a code, and refused.
	asked, refused []float64
	botSent        float64
}

// withoutGuard turns the number-range and country limits off: the
// defaults before the conversion guard.
func withoutGuard(l *phoneauth.Limits) {
	l.PerRange, l.PerCountry, l.UnverifiedPerRange, l.UnverifiedPerCountry = phoneauth.Unlimited, phoneauth.Unlimited, phoneauth.Unlimited, phoneauth.Unlimited
}

// simulate runs the traffic through an Authenticator on a manual clock,
// one second at a time, and reads the metrics every simulated minute.
// configure, if set, changes the default limits.
func simulate(t *testing.T, configure func(*phoneauth.Limits)) *simulation {
	t.Helper()
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	m, err := otelphoneauth.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	clock := phoneauth.NewManualClock(epoch)
	codes := map[string]string{}
	key, _ := phoneauth.GenerateEd25519Key("k")
	keys, _ := phoneauth.NewKeySet(key)
	var limits phoneauth.Limits
	if configure != nil {
		configure(&limits)
	}
	auth, err := phoneauth.New(phoneauth.Config{
		Limits: limits,
		Store:  phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(_ context.Context, msg phoneauth.Message) (string, error) {
			codes[msg.To] = msg.Code
			return "id", nil
		}),
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		Tokens: phoneauth.TokenConfig{Keys: keys},
		Clock:  clock,
		Events: m.Observe,
	})
	if err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(14, 5))
	sim := &simulation{sent: map[string][]float64{}, verified: map[string][]float64{}, refusals: map[string][]float64{}, conversion: map[string][]float64{},
		asked: make([]float64, simMinutes), refused: make([]float64, simMinutes), throttled: make([]float64, simMinutes)}
	// A user who will type the code in at a given time, on the device
	// that asked for it.
	type pending struct {
		phone, device, ip string
		at                time.Time
	}
	var toVerify []pending
	clients, botCredit := 0, 0.0
	// request asks for a code as a new client: a new address and device.
	request := func(phone string, network int) (device, ip string, err error) {
		clients++
		device = fmt.Sprintf("device-%d", clients)
		ip = fmt.Sprintf("%d.%d.%d.%d", network, clients>>16&255, clients>>8&255, clients&255)
		_, err = auth.Request(ctx, phoneauth.RequestParams{Phone: phone, IP: ip, DeviceID: device})
		return device, ip, err
	}
	prev := map[string]point{}
	for minute := range simMinutes {
		for range 60 {
			now := clock.Now()
			if rng.Float64() < usersPerHour/3600.0 {
				c := ordinaryCountries[rng.IntN(len(ordinaryCountries))]
				phone := fmt.Sprintf(c.format, rng.IntN(10_000))
				sim.asked[minute]++
				switch device, ip, err := request(phone, 10); {
				case err != nil:
					sim.refused[minute]++
				case rng.Float64() < 0.9: // most users type the code in
					toVerify = append(toVerify, pending{phone, device, ip, now.Add(time.Duration(20+rng.IntN(40)) * time.Second)})
				}
			}
			if minute >= attackStart && minute < attackEnd {
				for botCredit += botPerMinute / 60.0; botCredit >= 1; botCredit-- {
					_, _, _ = request(fmt.Sprintf("%s%03d", botRange, rng.IntN(1000)), 100)
				}
			}
			toVerify = slices.DeleteFunc(toVerify, func(p pending) bool {
				if p.at.After(now) {
					return false
				}
				_, _ = auth.Verify(ctx, phoneauth.VerifyParams{Phone: p.phone, Code: codes[p.phone], Device: phoneauth.Device{ID: p.device}, IP: p.ip})
				return true
			})
			clock.Advance(time.Second)
		}

		totals := collect(t, reader)
		for series, p := range totals {
			delta := p.value - prev[series].value
			switch p.name {
			case "phoneauth.codes_sent":
				addCountry(sim.sent, p.attrs["country"], minute, delta)
			case "phoneauth.verifications":
				if p.attrs["result"] == "success" {
					addCountry(sim.verified, p.attrs["country"], minute, delta)
				}
			case "phoneauth.limit_refusals":
				add(sim.refusals, p.attrs["limit"], minute, delta)
			case "phoneauth.guard.throttled_ranges":
				if p.attrs["scope"] == "range" {
					sim.throttled[minute] = p.value // a gauge: its value, not its increase
				}
			}
		}
		prev = totals
	}
	for country, sent := range sim.sent {
		sim.conversion[country] = conversion(sent, sim.verified[country])
	}
	sim.botSent = sum(sim.sent[botCountry])
	return sim
}

// conversion is the dashboard's conversion panel: verified / sent over the
// 15 minutes up to each minute, at most 100 % (the panel's maximum), NaN
// (no point) where at most 5 codes were sent. verified may be nil: none.
func conversion(sent, verified []float64) []float64 {
	out := make([]float64, len(sent))
	for i := range sent {
		from := max(0, i-14)
		s, v := sum(sent[from:i+1]), 0.0
		if verified != nil {
			v = sum(verified[from : i+1])
		}
		out[i] = math.NaN()
		if s > 5 {
			out[i] = min(v/s, 1)
		}
	}
	return out
}

// point is one series of a counter: its instrument, attributes and total.
type point struct {
	name  string
	attrs map[string]string
	value float64
}

// collect reads every integer counter's current total and gauge's value,
// keyed by series.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, dp := range points {
				attrs := map[string]string{}
				for _, kv := range dp.Attributes.ToSlice() {
					attrs[string(kv.Key)] = kv.Value.String()
				}
				out[m.Name+"{"+dp.Attributes.Encoded(attribute.DefaultEncoder())+"}"] = point{m.Name, attrs, float64(dp.Value)}
			}
		}
	}
	return out
}

// addCountry adds v to the series of country, of all and, but for the
// bot's country, of others.
func addCountry(m map[string][]float64, country string, i int, v float64) {
	add(m, country, i, v)
	add(m, all, i, v)
	if country != botCountry {
		add(m, others, i, v)
	}
}

// add adds v to the series key of m at minute i.
func add(m map[string][]float64, key string, i int, v float64) {
	if m[key] == nil {
		m[key] = make([]float64, simMinutes)
	}
	m[key][i] += v
}

// nanMean is the mean of the values that are not NaN.
func nanMean(xs []float64) float64 {
	s, n := 0.0, 0
	for _, x := range xs {
		if !math.IsNaN(x) {
			s, n = s+x, n+1
		}
	}
	return s / float64(n)
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestPumpingSimulation runs the simulation with the default limits and
// without the number-range and country limits, and checks what the
// dashboard shows. Without them, the bot's range dominates the codes sent,
// the conversion rate falls while it runs, and the global budget caps the
// bill by refusing ordinary users as well. With them (the defaults), the
// conversion guard throttles the bot's range: it gets at most a tenth of
// the codes, ordinary users are refused at most 1 % of the time, the
// throttled-ranges gauge shows the range while the bot runs and drops back
// to zero after. With -update it redraws docs/metrics-simulation.svg.
func TestPumpingSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-hour simulation, twice")
	}
	open, sim := simulate(t, withoutGuard), simulate(t, nil)

	// Without the guard: what the conversion panel is for.
	before := sum(open.conversion[all][attackStart-15:attackStart]) / 15
	during := sum(open.conversion[all][attackEnd-15:attackEnd]) / 15
	if before < 0.8 || during > 0.3 {
		t.Errorf("no guard: conversion %.2f before the attack and %.2f at its end, want > 0.8 and < 0.3", before, during)
	}
	if bot := sum(open.conversion[botCountry][attackStart+5 : attackEnd]); bot != 0 {
		t.Errorf("no guard: the bot's country converts %v, want 0", bot)
	}
	if o := nanMean(open.conversion[others][attackStart:attackEnd]); o < 0.8 {
		t.Errorf("no guard: the other countries convert %.2f during the attack, want ordinary users' rate (> 0.8)", o)
	}
	total := sum(open.sent[all][attackStart:attackEnd])
	if budget := 1000 + 1000*float64(attackEnd-attackStart)/60; total > budget+1 {
		t.Errorf("no guard: %v codes sent during the attack, more than the global budget %v", total, budget)
	}
	if g := sum(open.refusals["global"]); g == 0 {
		t.Error("no guard: the global budget never refused")
	}
	openRefused := sum(open.refused[attackStart:attackEnd]) / sum(open.asked[attackStart:attackEnd])
	if openRefused < 0.2 {
		t.Errorf("no guard: ordinary users refused %.1f%% during the attack, want ≥ 20%% (the global budget spent by the bot)", 100*openRefused)
	}

	// With the guard (the defaults).
	if cut := 1 - sim.botSent/open.botSent; cut < 0.9 {
		t.Errorf("the guard cut the bot's codes from %v to %v (%.1f%%), want ≥ 90%%", open.botSent, sim.botSent, 100*cut)
	}
	refused := sum(sim.refused) / sum(sim.asked)
	if refused > 0.01 {
		t.Errorf("with the guard, ordinary users refused %.2f%% of the time, want ≤ 1%%", 100*refused)
	}
	if g := sum(sim.refusals["global"]); g != 0 {
		t.Errorf("with the guard, the global budget refused %v requests, want none", g)
	}
	if sum(sim.refusals[phoneauth.ScopeRangeGuard]) == 0 {
		t.Error("the guard refused nothing")
	}
	if o := nanMean(sim.conversion[others][attackStart:attackEnd]); o < 0.8 {
		t.Errorf("with the guard, the other countries convert %.2f during the attack, want > 0.8", o)
	}
	// The gauge: the bot's range from its first refusals until a window
	// after the bot stops, nothing before or after.
	window := int(otelphoneauth.ThrottledWindow / time.Minute)
	for m, v := range sim.throttled {
		var want float64
		if m >= attackStart+1 && m < attackEnd+window-1 {
			want = 1
		}
		if (m < attackStart || m >= attackEnd+window || m > attackStart+1 && m < attackEnd) && v != want {
			t.Errorf("minute %d: %v throttled ranges, want %v", m, v, want)
		}
	}
	t.Logf("bot got %v codes without the guard, %v with it (cut %.1f%%); ordinary users refused %.0f%% during the attack without it, %.2f%% with it",
		open.botSent, sim.botSent, 100*(1-sim.botSent/open.botSent), 100*openRefused, 100*refused)

	svg := renderDashboard(sim, open)
	if *update {
		if err := os.WriteFile("../docs/metrics-simulation.svg", svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
