// Package pgstore keeps phoneauth's challenges, sessions, users and rate
// limits in PostgreSQL, so that several replicas of a server share them.
//
// A Store implements phoneauth.Store and phoneauth.Users; its Limiter
// implements phoneauth.BatchLimiter, so that an Authenticator decides all
// the limits of a code request in one statement. Every operation is a
// single SQL statement (one round trip; see RotateRefresh for its one
// exception), atomic on its own, and compares times with the time the
// caller passes, never the database's clock:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	if err != nil { … }
//	store, err := pgstore.New(pool, pgstore.Options{})
//	if err != nil { … }
//	if err := store.Migrate(ctx); err != nil { … }
//	if _, err := store.CheckSettings(ctx, logger); err != nil { … } // warns if not durable
//	go store.RunCleanup(ctx, time.Minute)
//
//	auth, err := phoneauth.New(phoneauth.Config{
//		Store:   store,           // challenges and sessions (and users)
//		Limiter: store.Limiter(), // limits shared by all replicas
//		…
//	})
//
// Migrate creates the schema (default "phoneauth") and its tables from
// migrations embedded in the package; it is idempotent and safe to call
// from several replicas starting at once. See the README for the schema and
// the privileges the database role needs.
//
// Errors: a missing, expired or non-matching entry is phoneauth.ErrNotFound
// as each Store method documents; every other failure (the database down, a
// timeout, a cancelled context, a schema not migrated) wraps
// phoneauth.ErrStoreUnavailable and keeps its cause. Statements run outside
// transactions and rely on READ COMMITTED, PostgreSQL's default isolation
// level.
//
// Every operation returns by the deadline of its context, also when the
// database is paused or unreachable; give every call one (as
// phoneauth.Config.StoreTimeout does). Single use of codes needs a durable
// database: see CheckSettings.
//
// Times are stored with microsecond precision (timestamptz); limiter state
// with nanosecond precision.
package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"

	"github.com/phoneauth/phoneauth/internal/sqlstore"
)

// DefaultSchema is the schema of the tables when Options.Schema is empty.
const DefaultSchema = "phoneauth"

// Options configure a Store. The zero value works.
type Options struct {
	// Schema is the PostgreSQL schema that holds the tables; Migrate
	// creates it if it is missing. Several Stores with different schemas
	// can share one database. Default DefaultSchema.
	Schema string
	// Clock stamps the CreatedAt of new users, the only time no caller
	// passes in, and gives RunCleanup its now. Default: the system clock.
	Clock phoneauth.Clock
	// Logger receives the errors of RunCleanup. Default: discarded.
	Logger *slog.Logger
}

// Store is a phoneauth.Store and phoneauth.Users on PostgreSQL. It is safe
// for concurrent use, also by several processes sharing one database.
// Create it with New and call Migrate once before using it.
type Store struct {
	pool   *pgxpool.Pool
	schema string // as given, unquoted
	clock  phoneauth.Clock
	log    *slog.Logger
	q      queries
}

var (
	_ phoneauth.Store         = (*Store)(nil)
	_ phoneauth.Users         = (*Store)(nil)
	_ phoneauth.BatchLimiter  = (*Limiter)(nil)
	_ phoneauth.BatchRefunder = (*Limiter)(nil)
)

// New returns a Store that keeps its data in pool's database, in the tables
// of opts.Schema. The caller owns pool and closes it after the last use of
// the Store. New does not touch the database; call Migrate to create or
// update the tables. It returns an error matching phoneauth.ErrInvalidConfig
// if pool is nil or the schema name is not valid.
func New(pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: pgstore: nil pool", phoneauth.ErrInvalidConfig)
	}
	schema := opts.Schema
	if schema == "" {
		schema = DefaultSchema
	}
	// PostgreSQL names are at most 63 bytes (longer ones are truncated,
	// silently, which would make two schemas one) and cannot hold NUL.
	if len(schema) > 63 || strings.ContainsRune(schema, 0) {
		return nil, fmt.Errorf("%w: pgstore: invalid schema name %q", phoneauth.ErrInvalidConfig, schema)
	}
	s := &Store{
		pool:   pool,
		schema: schema,
		clock:  opts.Clock,
		log:    opts.Logger,
		q:      newQueries(pgx.Identifier{schema}.Sanitize()),
	}
	if s.clock == nil {
		s.clock = phoneauth.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s, nil
}

// Schema returns the name of the schema that holds the Store's tables.
func (s *Store) Schema() string { return s.schema }

// Limiter returns a phoneauth.BatchLimiter that keeps its buckets in the
// Store's database (the limiter_buckets table and the limiter_allow_all
// function that Migrate creates), so that all replicas share their limits.
func (s *Store) Limiter() *Limiter { return &Limiter{pool: s.pool, q: &s.q} }

// unavailable wraps err, a failure to run op, so that it matches
// phoneauth.ErrStoreUnavailable and keeps its cause.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: pgstore: %s: %w", phoneauth.ErrStoreUnavailable, op, err)
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation
// on the constraint named constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// newID returns a random identifier in the form of a version 4 UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// RunCleanup calls Cleanup with the Store's clock now, and then every
// interval (default one minute when every is not positive), until ctx is
// done. Errors are logged to Options.Logger and the loop goes on. Run it in
// its own goroutine on one replica or on all of them (deletes skip rows
// that another cleanup holds):
//
//	go store.RunCleanup(ctx, time.Minute)
func (s *Store) RunCleanup(ctx context.Context, every time.Duration) {
	sqlstore.RunCleanup(ctx, every, s.clock.Now, s.Cleanup, s.log, "pgstore")
}

// cleanupBatch is how many rows one statement of Cleanup deletes at most,
// so that no statement holds many locks or runs for long.
const cleanupBatch = 1000

// cleanupBlocks is how many blocks of limiter_buckets (8 kB each, about a
// hundred buckets) one statement of Cleanup scans.
const cleanupBlocks = 256

// Cleanup deletes what has expired at now: challenges, sessions (with their
// refresh token hashes) and limiter buckets that are full again. It returns
// how many challenges, sessions and buckets it deleted. It deletes in
// batches, skipping rows locked by running operations, until nothing
// expired is left (of the buckets, nothing in the blocks the table had
// when the cleanup started).
func (s *Store) Cleanup(ctx context.Context, now time.Time) (deleted int64, err error) {
	batches := func(what, sql string, args ...any) error {
		for {
			tag, err := s.pool.Exec(ctx, sql, append([]any{args[0], cleanupBatch}, args[1:]...)...)
			if err != nil {
				return unavailable("cleanup "+what, err)
			}
			deleted += tag.RowsAffected()
			if tag.RowsAffected() < cleanupBatch {
				return nil
			}
		}
	}
	if err := batches("challenges", s.q.cleanupChallenges, now); err != nil {
		return deleted, err
	}
	if err := batches("sessions", s.q.cleanupSessions, now); err != nil {
		return deleted, err
	}
	var blocks int64
	if err := s.pool.QueryRow(ctx, s.q.bucketBlocks, s.table("limiter_buckets")).Scan(&blocks); err != nil {
		return deleted, unavailable("cleanup limiter buckets", err)
	}
	for from := int64(0); from < blocks; from += cleanupBlocks {
		if err := batches("limiter buckets", s.q.cleanupBuckets, now.UnixNano(), from, from+cleanupBlocks); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}
