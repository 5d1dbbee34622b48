package pgstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The tests run against the PostgreSQL server whose URL is in this
// variable; scripts/postgres-test-server.sh starts one:
//
//	export PHONEAUTH_TEST_POSTGRES_URL=$(../scripts/postgres-test-server.sh start ../.tmp/pg)
//	go test ./...
//
// Without it, or when the server cannot be reached, the tests skip; with
// CI=true they fail instead.
const urlEnv = "PHONEAUTH_TEST_POSTGRES_URL"

// needServer skips t because no PostgreSQL server can be had, or fails it
// when CI=true: in CI these tests must run.
func needServer(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the PostgreSQL tests must run)", msg)
	}
	t.Skipf("%s: skipping the PostgreSQL tests; start a server with "+
		"`export %s=$(scripts/postgres-test-server.sh start .tmp/pg)`", msg, urlEnv)
}

// openPool connects to the test server, with tracer (if not nil) watching
// every statement, and closes the pool when t ends. It skips or fails t
// (see needServer) when there is no server.
func openPool(t testing.TB, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		needServer(t, "%s is not set", urlEnv)
	}
	pool, err := connect(url, tracer)
	if err != nil {
		needServer(t, "the PostgreSQL server of %s is unreachable: %v", urlEnv, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// connect opens a pool on url and checks that the server answers.
func connect(url string, tracer pgx.QueryTracer) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.Tracer = tracer
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// testSchema is the schema of this test run: created (and migrated) on
// first use, dropped by TestMain at the end.
var testSchema = struct {
	once sync.Once
	name string
	err  error
}{name: "pgstore_test_" + strings.ToLower(rand.Text()[:10])}

// newTestStore returns a Store, migrated, in the schema of this test run,
// on a new pool watched by tracer (which may be nil).
func newTestStore(t testing.TB, tracer pgx.QueryTracer) *Store {
	t.Helper()
	pool := openPool(t, tracer)
	s, err := New(pool, Options{Schema: testSchema.name})
	if err != nil {
		t.Fatal(err)
	}
	testSchema.once.Do(func() { testSchema.err = s.Migrate(context.Background()) })
	if testSchema.err != nil {
		t.Fatalf("Migrate: %v", testSchema.err)
	}
	return s
}

// freshSchema returns a Store in a new, empty schema that is dropped when t
// ends. It does not migrate it.
func freshSchema(t testing.TB, pool *pgxpool.Pool) *Store {
	t.Helper()
	name := "pgstore_test_" + strings.ToLower(rand.Text()[:10])
	s, err := New(pool, Options{Schema: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return s
}

func TestMain(m *testing.M) {
	code := m.Run()
	if url := os.Getenv(urlEnv); url != "" {
		if pool, err := connect(url, nil); err == nil {
			_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{testSchema.name}.Sanitize()+" CASCADE")
			if err != nil {
				fmt.Fprintf(os.Stderr, "dropping schema %s: %v\n", testSchema.name, err)
			}
			pool.Close()
		}
	}
	os.Exit(code)
}

// statementCounter is a pgx.QueryTracer that counts the statements sent to
// the server (Exec, Query and QueryRow calls), and a pgx.PrepareTracer that
// counts the statements pgx prepares (once per connection and SQL text, an
// extra round trip before the first execution).
type statementCounter struct{ n, prepared atomic.Int64 }

// TraceQueryStart implements pgx.QueryTracer.
func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TracePrepareStart implements pgx.PrepareTracer.
func (c *statementCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.prepared.Add(1)
	return ctx
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (c *statementCounter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// count returns how many statements fn sends.
func (c *statementCounter) count(fn func()) int64 {
	before := c.n.Load()
	fn()
	return c.n.Load() - before
}
