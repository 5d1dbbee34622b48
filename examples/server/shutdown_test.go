package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	neturl "net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"crypto/rand"

	"github.com/jackc/pgx/v5"
	"github.com/phoneauth/phoneauth/internal/testutil"

	"github.com/phoneauth/phoneauth/internal/faultproxy"
)

// TestShutdownWithStorePaused runs the server as a process on a store
// (PostgreSQL, Redis) that stops answering (a proxy between them holds
// every byte, as a server stopped with SIGSTOP would), sends SIGTERM while
// clients wait for answers, and checks that the process exits with status
// 0 within -shutdown-timeout and that every request it accepted got an
// answer: 503 for those the store could not serve. Requests end either by
// their own deadline (shorter than the shutdown) or because the shutdown
// cancels them (a deadline longer than the shutdown).
func TestShutdownWithStorePaused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	stores := []struct {
		name, env, script string
		// store returns the -store value for a server reached at addr,
		// and removes what the test leaves there when t ends.
		store func(t *testing.T, url, addr string) string
	}{
		{"postgres", "PHONEAUTH_TEST_POSTGRES_URL", "postgres-test-server.sh", func(t *testing.T, url, addr string) string {
			schema := "server_test_" + strings.ToLower(rand.Text()[:10])
			t.Cleanup(func() { dropSchema(t, url, schema) })
			return withParam(withHost(t, url, addr), "schema", schema)
		}},
		{"redis", "PHONEAUTH_TEST_REDIS_URL", "redis-test-server.sh", func(t *testing.T, url, addr string) string {
			prefix := "phoneauth-server-test-" + rand.Text()[:10]
			t.Cleanup(func() { deleteKeys(t, url, prefix) })
			return withParam(withHost(t, url, addr), "prefix", prefix)
		}},
	}
	for _, st := range stores {
		for _, tc := range []struct {
			name              string
			request, shutdown time.Duration
		}{
			{"requests end by their deadline", 2 * time.Second, 6 * time.Second},
			{"the shutdown cancels requests", 30 * time.Second, 3 * time.Second},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				url := testServerURL(t, st.env, st.script)
				u, err := neturl.Parse(url)
				if err != nil {
					t.Fatal(err)
				}
				proxy, err := faultproxy.Start(u.Host)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { proxy.Close() })
				testShutdownWithStorePaused(t, bin, st.store(t, url, proxy.Addr()), proxy, tc.request, tc.shutdown)
			})
		}
	}
}

// withHost returns url with its host:port replaced by addr.
func withHost(t *testing.T, url, addr string) string {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

func testShutdownWithStorePaused(t *testing.T, bin, store string, proxy *faultproxy.Proxy, request, shutdown time.Duration) {
	logs := &testutil.Buffer{}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-store", store,
		"-request-timeout", request.String(), "-shutdown-timeout", shutdown.String())
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	base := serverAddr(t, logs, exited)

	// Clients post code requests until the server refuses connections.
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		dropped  []error // a request sent and never answered
		answered atomic.Int64
		wg       sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				resp, err := client.Post(base+"/auth/otp/request", "application/json",
					strings.NewReader(`{"phone": "`+randomMobile()+`", "deviceId": "shutdown-test"}`))
				var opErr *net.OpError
				switch {
				case errors.As(err, &opErr) && opErr.Op == "dial":
					return // the server no longer accepts: nothing was sent
				case err != nil:
					mu.Lock()
					dropped = append(dropped, err)
					mu.Unlock()
					return
				}
				resp.Body.Close()
				answered.Add(1)
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "the first answers", func() bool { return answered.Load() >= 50 })
	proxy.Pause()
	time.Sleep(300 * time.Millisecond) // real time: requests pile up in the store
	mu.Lock()
	beforeTerm := statuses[http.StatusServiceUnavailable]
	mu.Unlock()

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		took := time.Since(sent)
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\n%s", err, logs)
		}
		if took > shutdown+time.Second {
			t.Errorf("exited %v after SIGTERM, want within -shutdown-timeout %v", took, shutdown)
		}
		t.Logf("exited %v after SIGTERM (-request-timeout %v, -shutdown-timeout %v)", took.Round(time.Millisecond), request, shutdown)
	case <-time.After(shutdown + 10*time.Second):
		t.Fatalf("still running %v after SIGTERM\n%s", time.Since(sent), logs)
	}
	wg.Wait()
	proxy.Resume()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers: %v", statuses)
	for _, err := range dropped {
		t.Errorf("a request got no answer: %v", err)
	}
	if statuses[http.StatusServiceUnavailable]-beforeTerm < 8 {
		t.Errorf("%d requests waiting on the paused store answered 503 after SIGTERM, want all 16 clients' (answers %v)\n%s",
			statuses[http.StatusServiceUnavailable]-beforeTerm, statuses, logs)
	}
	for status := range statuses {
		if status >= 500 && status != http.StatusServiceUnavailable {
			t.Errorf("status %d: want 503 for every failure", status)
		}
	}
}

// serverAddr waits for the server process to log its address.
func serverAddr(t *testing.T, logs *testutil.Buffer, exited <-chan error) string {
	t.Helper()
	re := regexp.MustCompile(`addr=(http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-exited:
			t.Fatalf("server exited: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", logs)
	return ""
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// dropSchema drops a schema the server created.
func dropSchema(t *testing.T, dbURL, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Errorf("dropping schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("dropping schema %s: %v", schema, err)
	}
}
