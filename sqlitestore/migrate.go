package sqlitestore

import (
	"context"
	"embed"
	"fmt"

	"github.com/phoneauth/phoneauth/internal/sqlstore"
)

// migrationFiles are the schema's migrations, NNNN_name.sql, applied in
// the order of their numbers. A released migration is never edited: a
// change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations returns the embedded migrations sorted by version.
func migrations() ([]sqlstore.Migration, error) {
	return sqlstore.Migrations(migrationFiles, "migrations", "sqlitestore")
}

// migrate applies, in one transaction begun with BEGIN IMMEDIATE, each
// embedded migration not yet recorded in schema_migrations. Processes
// opening the file at once take turns on the write lock, and each
// migration is applied once. A migrated file costs one short transaction.
// It runs before the writer starts.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("migrate", err)
	}
	defer t.Rollback() //nolint:errcheck // after Commit, a no-op
	_, err = t.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`)
	var latest int
	if err == nil {
		err = t.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&latest)
	}
	if err != nil {
		return unavailable("migrate", err)
	}
	for _, m := range ms {
		if m.Version <= latest {
			continue
		}
		_, err := t.ExecContext(ctx, m.SQL)
		if err == nil {
			_, err = t.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, micros(s.clock.Now()))
		}
		if err != nil {
			return unavailable(fmt.Sprintf("migrate: migration %d (%s)", m.Version, m.Name), err)
		}
	}
	if err := t.Commit(); err != nil {
		return unavailable("migrate", err)
	}
	return nil
}
