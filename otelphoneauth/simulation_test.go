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
// limits and policy.
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
	// Ordinary users (not the bot): asked for a code, and refused.
	asked, refused []float64
	botSent        float64
}

// simulate runs the traffic through an Authenticator on a manual clock,
// one second at a time, and reads the metrics every simulated minute.
func simulate(t *testing.T) *simulation {
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
	auth, err := phoneauth.New(phoneauth.Config{
		Store: phoneauth.NewMemoryStore(),
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
		asked: make([]float64, simMinutes), refused: make([]float64, simMinutes)}
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

// collect reads every counter's current totals, keyed by series.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range s.DataPoints {
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

// TestPumpingSimulation runs the simulation and checks what the dashboard
// shows: the bot's range dominates the codes sent, the conversion rate
// falls while it runs, and the global budget caps the bill, refusing
// ordinary users as well (what the conversion guard will prevent). With
// -update it redraws docs/metrics-simulation.svg.
func TestPumpingSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-hour simulation")
	}
	sim := simulate(t)
	before := sum(sim.conversion[all][attackStart-15:attackStart]) / 15
	during := sum(sim.conversion[all][attackEnd-15:attackEnd]) / 15
	if before < 0.8 || during > 0.3 {
		t.Errorf("conversion %.2f before the attack and %.2f at its end, want > 0.8 and < 0.3", before, during)
	}
	// By country: the bot's converts nothing, the others as before.
	if bot := sum(sim.conversion[botCountry][attackStart+5 : attackEnd]); bot != 0 {
		t.Errorf("the bot's country converts %v, want 0", bot)
	}
	if o := nanMean(sim.conversion[others][attackStart:attackEnd]); o < 0.8 {
		t.Errorf("the other countries convert %.2f during the attack, want ordinary users' rate (> 0.8)", o)
	}
	// The global budget: at most 1,000 codes an hour after its first burst.
	total := sum(sim.sent[all][attackStart:attackEnd])
	if budget := 1000 + 1000*float64(attackEnd-attackStart)/60; total > budget+1 {
		t.Errorf("%v codes sent during the attack, more than the global budget %v", total, budget)
	}
	if share := sum(sim.sent[botCountry][attackStart:attackEnd]) / total; share < 0.5 {
		t.Errorf("the bot's country got %.0f%% of the codes during the attack, want most", 100*share)
	}
	if g := sum(sim.refusals["global"]); g == 0 {
		t.Error("the global budget never refused")
	}
	refusedDuring := sum(sim.refused[attackStart:attackEnd]) / sum(sim.asked[attackStart:attackEnd])
	refusedBefore := sum(sim.refused[:attackStart]) / sum(sim.asked[:attackStart])
	if refusedBefore > 0.01 || refusedDuring < 0.2 {
		t.Errorf("ordinary users refused: %.1f%% before the attack, %.1f%% during, want ≤ 1%% and ≥ 20%%", 100*refusedBefore, 100*refusedDuring)
	}
	t.Logf("bot got %v codes; ordinary users refused %.0f%% during the attack; conversion %.2f → %.2f",
		sim.botSent, 100*refusedDuring, before, during)

	svg := renderDashboard(sim)
	if *update {
		if err := os.WriteFile("../docs/metrics-simulation.svg", svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
