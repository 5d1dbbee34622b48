// Package sqlitestore keeps phoneauth's challenges, sessions, users and rate
// limits in one SQLite database file, so that they survive a restart of the
// server: pending codes, signed-in sessions and users are there again when
// the process comes back. It is the store for a server on a single node;
// several processes on that node may share the file, and replicas on
// several machines need redisstore or pgstore.
//
// It uses modernc.org/sqlite, SQLite in pure Go: no cgo, no C compiler.
//
//	store, err := sqlitestore.Open(ctx, "/var/lib/myapp/phoneauth.db", sqlitestore.Options{})
//	if err != nil { … }
//	defer store.Close()
//	go store.RunCleanup(ctx, time.Minute)
//
//	auth, err := phoneauth.New(phoneauth.Config{
//		Store:   store,           // challenges and sessions (and users)
//		Limiter: store.Limiter(), // limits shared by every process on the file
//		…
//	})
//
// Open creates the file if it is missing and applies the schema's
// migrations, which are embedded in the package: it is idempotent, and
// processes opening one file at once take turns.
//
// # Durability and concurrency
//
// Every connection runs with journal_mode=WAL (readers never wait for the
// writer), a busy timeout (a writer waits for another process's write
// instead of failing) and synchronous=FULL, unless Options.Synchronous says
// otherwise. FULL is what keeps single use single across a crash: in WAL
// mode it syncs the log to disk at every commit, so once DeleteChallenge or
// RotateRefresh has returned, the consumed code or rotated token stays
// consumed even after a power loss or an operating-system crash. NORMAL
// syncs only at checkpoints: a commit survives the process crashing, but
// the last commits before a power loss may be rolled back, bringing a used
// code or refresh token back to life. Open checks the settings it gets
// (SQLite cannot use WAL on every file system, and a file may be opened
// with NORMAL on purpose) and logs a warning when they are not durable;
// Durability reports them.
//
// Every write runs in a transaction begun with BEGIN IMMEDIATE, which takes
// the database's write lock before reading, so that no other connection or
// process can change what it reads before it writes: SQLite has no
// SELECT … FOR UPDATE, and this is its equivalent. Within a Store, the
// writes waiting at one moment share one transaction and one commit (group
// commit: one fsync for many writes), each in a savepoint of its own, so
// that one failing changes nothing and leaves the others be; each returns
// once that commit is durable. Reads run beside the writer on a pool of
// connections of their own.
//
// Errors: a missing, expired or non-matching entry is phoneauth.ErrNotFound
// as each Store method documents; every other failure (the file unreadable,
// the disk full, the busy timeout exceeded, a cancelled context) wraps
// phoneauth.ErrStoreUnavailable and keeps its cause.
//
// Times compare the time the caller passes, never SQLite's clock. They are
// stored as microseconds since the Unix epoch; limiter state in
// nanoseconds.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/phoneauth/phoneauth"

	"github.com/phoneauth/phoneauth/internal/sqlstore"
)

// Options configure a Store. The zero value is the durable default.
type Options struct {
	// Synchronous is SQLite's synchronous setting for every connection:
	// "FULL" (the default) or "EXTRA", which keep a returned write across a
	// power loss, or "NORMAL", which keeps it across a crash of the process
	// only (faster; Open then logs a warning). See the package
	// documentation.
	Synchronous string
	// BusyTimeout is how long a write waits for another process's write to
	// finish before failing. Default 5 seconds.
	BusyTimeout time.Duration
	// ReadConns is the number of connections that serve reads. Default 4.
	ReadConns int
	// Clock stamps the CreatedAt of new users, the only time no caller
	// passes in, and gives RunCleanup its now. Default: the system clock.
	Clock phoneauth.Clock
	// Logger receives the durability warning of Open and the errors of
	// RunCleanup. Default: slog.Default(), so that the warning is seen.
	Logger *slog.Logger
}

// Store is a phoneauth.Store and phoneauth.Users in one SQLite file. It is
// safe for concurrent use, also by several Stores and processes sharing the
// file. Create it with Open and Close it when done.
type Store struct {
	w, r  *sql.DB // w: one connection, for the writer; r: reads
	clock phoneauth.Clock
	log   *slog.Logger
	dur   Durability

	wstmts map[string]*sql.Stmt // writeQueries, prepared on w
	rstmts stmtCache            // read statements, prepared on r

	path string      // the database file
	file os.FileInfo // the file Open opened, to notice it removed or replaced

	ops        chan *writeOp // to the writer
	closed     chan struct{} // closed by Close
	writerDone chan struct{} // closed when the writer has stopped
	closeOnce  sync.Once
	closeErr   error

	// statements counts the statements sent to SQLite, BEGIN and COMMIT
	// included, and commits the transactions committed (each an fsync with
	// synchronous FULL), for tests and benchmarks.
	statements, commits atomic.Int64
}

var (
	_ phoneauth.Store         = (*Store)(nil)
	_ phoneauth.Users         = (*Store)(nil)
	_ phoneauth.BatchLimiter  = (*Limiter)(nil)
	_ phoneauth.BatchRefunder = (*Limiter)(nil)
)

// Durability is what Open found of the settings that decide whether a
// returned write survives a crash.
type Durability struct {
	JournalMode string // "wal" when WAL is on
	Synchronous string // "FULL", "EXTRA", "NORMAL" or "OFF"
}

// Durable reports whether a write that has returned survives a power loss:
// WAL with synchronous FULL or EXTRA.
func (d Durability) Durable() bool {
	return d.JournalMode == "wal" && (d.Synchronous == "FULL" || d.Synchronous == "EXTRA")
}

// Open opens (creating it if need be) the SQLite database file at path,
// applies the embedded migrations and checks the durability of its
// settings, logging a warning to opts.Logger if a returned write might not
// survive a crash. It returns an error matching phoneauth.ErrInvalidConfig
// for a path or option it cannot use, and one matching
// phoneauth.ErrStoreUnavailable when the file cannot be opened or migrated.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("%w: sqlitestore: path %q: want the name of a file (without '?' or '#')", phoneauth.ErrInvalidConfig, path)
	}
	synchronous := strings.ToUpper(opts.Synchronous)
	switch synchronous {
	case "":
		synchronous = "FULL"
	case "FULL", "EXTRA", "NORMAL":
	default:
		return nil, fmt.Errorf("%w: sqlitestore: Synchronous %q: want FULL, EXTRA or NORMAL", phoneauth.ErrInvalidConfig, opts.Synchronous)
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	reads := opts.ReadConns
	if reads <= 0 {
		reads = 4
	}
	q := url.Values{
		"_busy_timeout": {fmt.Sprint(busy.Milliseconds())},
		"_journal_mode": {"WAL"},
		"_synchronous":  {synchronous},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
	}
	dsn := path + "?" + q.Encode()
	s := &Store{clock: opts.Clock, log: opts.Logger, ops: make(chan *writeOp), closed: make(chan struct{}), writerDone: make(chan struct{})}
	if s.clock == nil {
		s.clock = phoneauth.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	if s.w, err = sql.Open("sqlite", dsn); err != nil {
		return nil, unavailable("open", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetConnMaxIdleTime(0)
	if s.r, err = sql.Open("sqlite", dsn); err != nil {
		s.w.Close()
		return nil, unavailable("open", err)
	}
	s.r.SetMaxOpenConns(reads)
	s.r.SetMaxIdleConns(reads)
	err = s.migrate(ctx)
	if err == nil {
		err = s.checkDurability(ctx)
	}
	if err == nil {
		err = s.prepareWrites(ctx)
	}
	if err == nil {
		s.path = path
		if s.file, err = os.Stat(path); err != nil {
			err = unavailable("open", err)
		}
	}
	if err != nil {
		close(s.writerDone) // no writer to wait for
		s.Close()
		return nil, err
	}
	go s.runWriter()
	return s, nil
}

// checkDurability reads the settings of a connection and warns if they are
// not durable.
func (s *Store) checkDurability(ctx context.Context) error {
	var level int
	err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&s.dur.JournalMode)
	if err == nil {
		err = s.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level)
	}
	if err != nil {
		return unavailable("read settings", err)
	}
	s.dur.JournalMode = strings.ToLower(s.dur.JournalMode)
	s.dur.Synchronous = [...]string{"OFF", "NORMAL", "FULL", "EXTRA"}[min(max(level, 0), 3)]
	if !s.dur.Durable() {
		s.log.LogAttrs(ctx, slog.LevelWarn, "sqlitestore: settings are not durable: a code consumed or a refresh token rotated just before a power loss may be usable again after it; use WAL with synchronous FULL",
			slog.String("journal_mode", s.dur.JournalMode), slog.String("synchronous", s.dur.Synchronous))
	}
	return nil
}

// Durability returns the settings Open found.
func (s *Store) Durability() Durability { return s.dur }

// Close waits for the writes under way, then closes the Store's
// connections; later calls fail with phoneauth.ErrStoreUnavailable. The
// last connection to the file to close checkpoints the write-ahead log into
// the database file. Closing again returns the first Close's result.
// Closing a Store that Open did not make (nil or zero) is an error matching
// phoneauth.ErrInvalidConfig.
func (s *Store) Close() error {
	if s == nil || s.closed == nil {
		return fmt.Errorf("%w: sqlitestore: Close of a Store that Open did not make", phoneauth.ErrInvalidConfig)
	}
	s.closeOnce.Do(func() {
		close(s.closed)
		<-s.writerDone
		for _, st := range s.wstmts {
			st.Close()
		}
		s.rstmts.close()
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

// Limiter returns a phoneauth.BatchLimiter that keeps its buckets in the
// Store's file, so that every process using the file shares its limits.
func (s *Store) Limiter() *Limiter { return &Limiter{s: s} }

// unavailable wraps err, a failure to run op, so that it matches
// phoneauth.ErrStoreUnavailable and keeps its cause.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: sqlitestore: %s: %w", phoneauth.ErrStoreUnavailable, op, err)
}

// notFoundOr maps sql.ErrNoRows to phoneauth.ErrNotFound and wraps any
// other error as a failure of op.
func notFoundOr(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return phoneauth.ErrNotFound
	}
	return unavailable(op, err)
}

// isUniqueViolation reports whether err is SQLite's UNIQUE or PRIMARY KEY
// constraint failure.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// readRow runs a read statement on the read pool.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	s.statements.Add(1)
	st, err := s.rstmts.get(s.r, query)
	if err != nil {
		return s.r.QueryRowContext(ctx, query, args...) // fails again, reported by Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// readRows runs a read statement that returns rows on the read pool.
func (s *Store) readRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.statements.Add(1)
	st, err := s.rstmts.get(s.r, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// micros is t as stored: microseconds since the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is the time stored as us, in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// newID returns a random 128-bit identifier: 26 base32 characters.
func newID() string { return rand.Text() }

// RunCleanup calls Cleanup with the Store's clock now, and then every
// interval (default one minute when every is not positive), until ctx is
// done. Errors are logged to Options.Logger and the loop goes on. Run it in
// its own goroutine, in one process or in each of those sharing the file:
//
//	go store.RunCleanup(ctx, time.Minute)
func (s *Store) RunCleanup(ctx context.Context, every time.Duration) {
	sqlstore.RunCleanup(ctx, every, s.clock.Now, s.Cleanup, s.log, "sqlitestore")
}

// errFileGone is the error of Cleanup when the database file is no longer
// the one Open opened.
var errFileGone = errors.New("the database file was removed or replaced since Open: SQLite goes on with the deleted file, and what it holds, every write since included, is lost when the store closes; restart with the file restored or a new one")

// checkFile reports whether the file at the Store's path is still the one
// Open opened. SQLite itself does not notice.
func (s *Store) checkFile() error {
	if fi, err := os.Stat(s.path); err != nil || !os.SameFile(fi, s.file) {
		return unavailable("check file", errFileGone)
	}
	return nil
}

// cleanupBatch is how many rows one statement of Cleanup deletes at most,
// so that no transaction holds the write lock for long.
const cleanupBatch = 1000

// Cleanup deletes what has expired at now: challenges, sessions (with their
// refresh token hashes), rotated token hashes past their own expiry, and
// limiter buckets that are full again. It returns how many rows it deleted.
// It deletes in batches, each its own write, so that other writes get
// their turn in between. First it checks that the database file is still
// the one Open opened, and fails if it was removed or replaced (so that
// RunCleanup logs it).
func (s *Store) Cleanup(ctx context.Context, now time.Time) (deleted int64, err error) {
	if err := s.checkFile(); err != nil {
		return 0, err
	}
	us, ns := micros(now), now.UnixNano()
	for _, q := range []struct {
		what, sql string
		arg       int64
	}{
		{"challenges", cleanupChallengesSQL, us},
		{"sessions", cleanupSessionsSQL, us},
		{"refresh tokens", cleanupTokensSQL, us},
		{"limiter buckets", cleanupBucketsSQL, ns},
	} {
		for {
			var n int64
			err := s.write(ctx, "cleanup "+q.what, func(t tx) error {
				res, err := t.exec(q.sql, q.arg, cleanupBatch)
				if err == nil {
					n, err = res.RowsAffected()
				}
				if err != nil {
					return unavailable("cleanup "+q.what, err)
				}
				return nil
			})
			if err != nil {
				return deleted, err
			}
			deleted += n
			if n < cleanupBatch {
				break
			}
		}
	}
	return deleted, nil
}
