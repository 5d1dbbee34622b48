// Command loadgen drives a running phoneauth server (examples/server in
// development mode) over loopback: N concurrent clients each run full
// sign-in flows, request → verify, with a fresh phone number and device
// per flow and a fresh source address every few flows, reading the code
// from the development-mode response. It prints flows per second and the
// p50/p90/p99 latency per route, and stops by itself after -n flows or
// -duration.
//
//	go build -o /tmp/server ./examples/server && /tmp/server -global-limit -1 2>/dev/null &
//	go run ./examples/loadgen -c 32 -duration 10s
//
// With -refresh N each flow then refreshes its tokens N times, each refresh
// presenting the refresh token the previous step returned, and the report
// adds refreshes per second. The rate counts the whole run's time, sign-ins
// included: with a large N (20) it approaches the rate of refreshes alone.
//
// Fresh source addresses come from binding each connection to a different
// 127.x.y.z address (Linux routes all of 127.0.0.0/8 to loopback), so the
// server's per-IP limit (10 requests per 10 minutes) sees many clients. The
// phone numbers are valid Pakistani mobile numbers (+92 300…329), from a
// random start, so that runs do not collide with each other's per-phone
// limits, and a stride apart, so that consecutive flows fall in different
// number ranges (the server's per-range budget and conversion guard).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	url          string
	prefix       string
	clients      int
	flows        int64
	duration     time.Duration
	flowsPerAddr int
	refreshes    int
}

// run parses args, runs the load and writes the report to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server base URL (loopback)")
	fs.StringVar(&c.prefix, "prefix", "/auth", "prefix of the sign-in routes")
	fs.IntVar(&c.clients, "c", 32, "concurrent clients")
	fs.Int64Var(&c.flows, "n", 0, "stop after this many flows (0: only -duration)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "stop after this long")
	fs.IntVar(&c.flowsPerAddr, "flows-per-addr", 5, "flows per source address (keep under the per-IP limit of 10)")
	fs.IntVar(&c.refreshes, "refresh", 0, "refreshes of the tokens after each verify, each with the newest refresh token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.clients < 1 || c.flowsPerAddr < 1 || c.duration <= 0 || c.refreshes < 0 {
		return errors.New("-c, -flows-per-addr and -duration must be positive, -refresh not negative")
	}

	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	g := &generator{cfg: c, phoneBase: rand.Uint64N(250_000_000), addrBase: rand.Uint32N(1 << 23)}
	results := make([]*workerResult, c.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		results[i] = &workerResult{failures: map[string]int{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.work(ctx, cancel, results[i])
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	return report(out, c, results, elapsed, g.addrs.Load(), g.fatal.Load())
}

// generator hands out flows, phone numbers and source addresses.
type generator struct {
	cfg       config
	phoneBase uint64
	addrBase  uint32
	next      atomic.Int64  // flows claimed
	spent     atomic.Bool   // all -n flows claimed
	addrs     atomic.Uint32 // source addresses used
	fatal     atomic.Pointer[error]
}

// workerResult is what one client measured.
type workerResult struct {
	ok        int
	refreshes int            // successful refreshes
	failures  map[string]int // by route and status
	latency   map[string][]time.Duration
}

// phoneStride is coprime with 300,000,000: phone(k) runs through every
// number before it repeats one, and consecutive ones are 1,000 ranges of
// 1,000 numbers apart.
const phoneStride = 1_000_003

// phone returns the k-th phone number: +92 3xx xxxxxxx with xx in 00..29.
func (g *generator) phone(k uint64) string {
	n := (g.phoneBase + k*phoneStride) % 300_000_000
	return fmt.Sprintf("+923%02d%07d", n/10_000_000, n%10_000_000)
}

// sourceAddr returns a fresh 127.x.y.z address (z in 1..254).
func (g *generator) sourceAddr() net.IP {
	n := (g.addrBase + g.addrs.Add(1)) % (254 * 65536)
	return net.IPv4(127, byte(n/254/256), byte(n/254%256), byte(1+n%254))
}

// work runs flows until ctx is done or the flow budget is spent.
func (g *generator) work(ctx context.Context, stop context.CancelFunc, res *workerResult) {
	res.latency = map[string][]time.Duration{}
	for ctx.Err() == nil && !g.spent.Load() {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{LocalAddr: &net.TCPAddr{IP: g.sourceAddr()}, Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
		}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for range g.cfg.flowsPerAddr {
			k := g.next.Add(1) - 1
			if g.cfg.flows > 0 && k >= g.cfg.flows {
				g.spent.Store(true) // flows in flight elsewhere finish
				break
			}
			if err := g.flow(ctx, client, uint64(k), res); err != nil {
				if ctx.Err() == nil {
					g.fatal.CompareAndSwap(nil, &err)
					stop()
				}
				break
			}
		}
		tr.CloseIdleConnections()
	}
}

// flow signs one new phone in: request, then verify with the code from the
// development-mode response, then -refresh refreshes. Failures by status
// are counted; an error (the server unreachable, no code in the response)
// stops the run.
func (g *generator) flow(ctx context.Context, client *http.Client, k uint64, res *workerResult) error {
	phone, device := g.phone(k), fmt.Sprintf("loadgen-%d", g.phoneBase+k)
	var sent struct {
		Data struct {
			OTP string `json:"otp"`
		} `json:"data"`
	}
	status, err := g.post(ctx, client, "request", `{"phone":"`+phone+`","deviceId":"`+device+`"}`, &sent, res)
	if err != nil || status != http.StatusOK {
		return err
	}
	if sent.Data.OTP == "" {
		return errors.New("no otp in the response: is the server in development mode (-dev)?")
	}
	body := `{"otpInfo":{"phone":"` + phone + `","otp":"` + sent.Data.OTP + `"},"deviceInfo":{"deviceId":"` + device + `","deviceType":"loadgen"}}`
	var signedIn struct {
		Data struct {
			Token struct {
				RefreshToken string `json:"refreshToken"`
			} `json:"token"`
		} `json:"data"`
	}
	status, err = g.post(ctx, client, "verify", body, &signedIn, res)
	if err != nil || status != http.StatusOK {
		return err
	}
	res.ok++
	for range g.cfg.refreshes {
		token := signedIn.Data.Token.RefreshToken
		if token == "" {
			return errors.New("no refreshToken in the response")
		}
		status, err = g.post(ctx, client, "refresh", `{"refreshToken":"`+token+`"}`, &signedIn, res)
		if err != nil || status != http.StatusOK {
			return err
		}
		res.refreshes++
	}
	return nil
}

// paths are the routes' paths under the prefix.
var paths = map[string]string{
	"request": "/otp/request",
	"verify":  "/otp/verify",
	"refresh": "/token/refresh",
}

// post sends one request, records its latency, and decodes a 200's body
// into v.
func (g *generator) post(ctx context.Context, client *http.Client, route, body string, v any, res *workerResult) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", g.cfg.url+g.cfg.prefix+paths[route], bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	t := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	res.latency[route] = append(res.latency[route], time.Since(t))
	if resp.StatusCode != http.StatusOK {
		res.failures[fmt.Sprintf("%s %d", route, resp.StatusCode)]++
		return resp.StatusCode, nil
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return 0, fmt.Errorf("%s: %w", route, err)
		}
	}
	return resp.StatusCode, nil
}

// report prints the figures.
func report(w io.Writer, c config, results []*workerResult, elapsed time.Duration, addrs uint32, fatal *error) error {
	ok, refreshes := 0, 0
	failures := map[string]int{}
	latency := map[string][]time.Duration{}
	for _, r := range results {
		ok += r.ok
		refreshes += r.refreshes
		for k, n := range r.failures {
			failures[k] += n
		}
		for route, ds := range r.latency {
			latency[route] = append(latency[route], ds...)
		}
	}
	failed := 0
	for _, n := range failures {
		failed += n
	}
	fmt.Fprintf(w, "%s: %d clients, %d source addresses\n", c.url, c.clients, addrs)
	fmt.Fprintf(w, "flows: %d ok, %d failed in %.2fs: %.0f flows/s\n", ok, failed, elapsed.Seconds(), float64(ok)/elapsed.Seconds())
	routes := []string{"request", "verify"}
	if c.refreshes > 0 {
		fmt.Fprintf(w, "refreshes: %d ok in %.2fs: %.0f refresh/s\n", refreshes, elapsed.Seconds(), float64(refreshes)/elapsed.Seconds())
		routes = append(routes, "refresh")
	}
	fmt.Fprintf(w, "%-8s %8s %9s %9s %9s %9s\n", "route", "count", "p50", "p90", "p99", "max")
	for _, route := range routes {
		ds := latency[route]
		slices.Sort(ds)
		fmt.Fprintf(w, "%-8s %8d %9s %9s %9s %9s\n", route, len(ds), pct(ds, 50), pct(ds, 90), pct(ds, 99), pct(ds, 100))
	}
	keys := make([]string, 0, len(failures))
	for k := range failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "failed: %s: %d\n", k, failures[k])
	}
	if fatal != nil {
		return *fatal
	}
	return nil
}

// pct returns the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return sorted[i].Round(10 * time.Microsecond).String()
}
