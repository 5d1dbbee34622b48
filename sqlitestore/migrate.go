package sqlitestore

import (
	"cmp"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// migrationFiles are the schema's migrations, NNNN_name.sql, applied in
// the order of their numbers. A released migration is never edited: a
// change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// A migration is one versioned step of the schema.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations sorted by version.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, path := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(path, "migrations/"), ".sql")
		num, name, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("sqlitestore: migration file %s: name must start with a positive number", path)
		}
		sql, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: name, sql: string(sql)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return ms, nil
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
		if m.version <= latest {
			continue
		}
		_, err := t.ExecContext(ctx, m.sql)
		if err == nil {
			_, err = t.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, micros(s.clock.Now()))
		}
		if err != nil {
			return unavailable(fmt.Sprintf("migrate: migration %d (%s)", m.version, m.name), err)
		}
	}
	if err := t.Commit(); err != nil {
		return unavailable("migrate", err)
	}
	return nil
}
