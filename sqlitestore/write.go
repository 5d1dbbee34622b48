package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// Writes and group commit.
//
// SQLite commits one transaction at a time, and with synchronous=FULL each
// commit waits for the disk (an fsync of the write-ahead log). Committing
// every write on its own would bound a Store to a few hundred writes per
// second, whatever the number of cores. So a Store's writes go to one
// goroutine, the writer, which runs all the writes waiting at that moment
// in one transaction begun with BEGIN IMMEDIATE, each in a savepoint of its
// own, and commits them together: one fsync for the batch. A write whose
// function fails is rolled back to its savepoint and changes nothing; the
// others are unaffected. Each caller gets its result once the batch is
// committed, so a write that has returned is durable as before. Writes of a
// batch run one after another, each seeing what the previous ones did:
// exactly as if they had been committed one by one, in that order.
//
// Other processes and Stores on the same file take the write lock in turn
// with this one (the busy timeout makes BEGIN IMMEDIATE wait); a batch
// holds it only while it runs.

// maxBatch bounds the writes of one transaction.
const maxBatch = 128

// A writeOp is one write waiting for the writer.
type writeOp struct {
	ctx  context.Context
	fn   func(tx) error
	done chan error // buffered: the writer never waits for the caller
}

// A tx is the transaction of a batch of writes. Its statements run with
// the batch's context, never a caller's: SQLite answers an interrupted
// write inside a transaction by rolling back the whole transaction, which
// would undo the other writes of the batch.
type tx struct {
	t *sql.Tx
	s *Store
}

// exec runs a statement, prepared on the writer's connection if it is
// one of writeQueries.
func (t tx) exec(query string, args ...any) (sql.Result, error) {
	t.s.statements.Add(1)
	if st := t.s.wstmts[query]; st != nil {
		return t.t.Stmt(st).Exec(args...)
	}
	return t.t.Exec(query, args...)
}

// row runs a statement that returns one row.
func (t tx) row(query string, args ...any) *sql.Row {
	t.s.statements.Add(1)
	if st := t.s.wstmts[query]; st != nil {
		return t.t.Stmt(st).QueryRow(args...)
	}
	return t.t.QueryRow(query, args...)
}

// prepareWrites prepares writeQueries on the writer's connection, before
// the writer starts: a statement can only be prepared on the connection
// while no transaction holds it. Within a transaction, Tx.Stmt then uses
// the statement already prepared on it.
func (s *Store) prepareWrites(ctx context.Context) error {
	s.wstmts = make(map[string]*sql.Stmt)
	for _, q := range writeQueries() {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return unavailable("prepare", err)
		}
		s.wstmts[q] = st
	}
	return nil
}

// write runs fn as one write of the next batch and returns its error, or
// an error matching phoneauth.ErrStoreUnavailable if the batch could not be
// begun or committed (then fn's changes were not kept) or the Store is
// closed. fn's errors are returned as they are; when fn fails, what it
// changed is rolled back. ctx is checked before fn runs, not while it runs.
//
// write returns when ctx is done, also while its batch waits for the write
// lock that another process holds (up to the busy timeout): its error then
// matches phoneauth.ErrStoreUnavailable, and the writer skips fn, unless fn
// had begun by then (a write cut off by its deadline may have happened).
func (s *Store) write(ctx context.Context, op string, fn func(tx) error) error {
	w := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- w:
	case <-s.closed:
		return unavailable(op, errClosed)
	case <-ctx.Done():
		return unavailable(op, ctx.Err())
	}
	select {
	case err := <-w.done:
		return writeResult(op, err)
	case <-ctx.Done():
		select {
		case err := <-w.done: // done at the same time: the result is known
			return writeResult(op, err)
		default:
			return unavailable(op, ctx.Err())
		}
	}
}

// writeResult is the error write returns for a write's result err.
func writeResult(op string, err error) error {
	if errors.Is(err, errBatch) {
		return unavailable(op, err)
	}
	return err
}

var (
	errClosed = errors.New("the store is closed")
	// errBatch marks the failure of a batch's transaction as a whole.
	errBatch = errors.New("transaction failed")
)

// runWriter is the writer goroutine: it takes the writes waiting, up to
// maxBatch, runs them as one transaction, and repeats until the Store is
// closed.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case w := <-s.ops:
			batch = append(batch[:0], w)
		case <-s.closed:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-s.ops:
				batch = append(batch, w)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// commit runs batch in one transaction and tells each write its result.
func (s *Store) commit(batch []*writeOp) {
	errs := make([]error, len(batch))
	err := s.runBatch(batch, errs)
	for i, w := range batch {
		if err != nil {
			errs[i] = err // nothing was kept
		}
		w.done <- errs[i]
	}
}

// runBatch runs batch in one transaction, each write in a savepoint when
// there are several, and commits. It records each write's error in errs
// and returns the error of the transaction as a whole, which undoes them
// all.
func (s *Store) runBatch(batch []*writeOp, errs []error) error {
	ctx := context.Background()
	s.statements.Add(1)
	t, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return errors.Join(errBatch, err)
	}
	savepoints := len(batch) > 1
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			errs[i] = unavailable("write", err)
			continue
		}
		if savepoints {
			if _, err := t.ExecContext(ctx, `SAVEPOINT write`); err != nil {
				_ = t.Rollback()
				return errors.Join(errBatch, err)
			}
		}
		errs[i] = w.fn(tx{t, s})
		if errs[i] != nil && !savepoints {
			_ = t.Rollback()
			return nil // the one write failed: nothing to commit
		}
		if errs[i] != nil {
			if _, err := t.ExecContext(ctx, `ROLLBACK TO write`); err != nil {
				_ = t.Rollback()
				return errors.Join(errBatch, err)
			}
		}
		if savepoints {
			if _, err := t.ExecContext(ctx, `RELEASE write`); err != nil {
				_ = t.Rollback()
				return errors.Join(errBatch, err)
			}
		}
	}
	s.statements.Add(1)
	if err := t.Commit(); err != nil {
		return errors.Join(errBatch, err)
	}
	s.commits.Add(1)
	return nil
}

// stmtCache holds the statements prepared on the read pool, by query: a
// statement is prepared on each connection the first time it runs there.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// get returns query's statement on db, preparing it the first time.
func (c *stmtCache) get(db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := db.Prepare(query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[query] = st
	return st, nil
}

// close closes the statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}
