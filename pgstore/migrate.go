package pgstore

import (
	"context"
	"embed"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

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
	return sqlstore.Migrations(migrationFiles, "migrations", "pgstore")
}

// Migrate creates or updates the Store's schema and tables: it creates the
// schema if it is missing, then applies, in order, each embedded migration
// not yet recorded in the schema_migrations table, each in its own
// transaction. Several processes may call it at once: a transaction-level
// advisory lock per schema makes them take turns, and each migration is
// applied once. When every migration has been applied already, Migrate
// only reads schema_migrations, so a role without the CREATE privilege may
// call it on a migrated schema. Errors wrap phoneauth.ErrStoreUnavailable.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return unavailable("migrate", err)
	}
	pending := slices.DeleteFunc(ms, func(m sqlstore.Migration) bool { return applied[m.Version] })
	if len(pending) == 0 {
		return nil
	}
	if err := s.inMigrationTx(ctx, s.bootstrap); err != nil {
		return unavailable("migrate: create schema", err)
	}
	for _, m := range pending {
		err := s.inMigrationTx(ctx, func(ctx context.Context, tx pgx.Tx) error { return s.apply(ctx, tx, m) })
		if err != nil {
			return unavailable(fmt.Sprintf("migrate: migration %d (%s)", m.Version, m.Name), err)
		}
	}
	return nil
}

// appliedMigrations returns the versions recorded in schema_migrations, or
// none if the table does not exist.
func (s *Store) appliedMigrations(ctx context.Context) (map[int]bool, error) {
	var exists bool
	err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.table("schema_migrations")).Scan(&exists)
	if err != nil || !exists {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT version FROM `+s.table("schema_migrations"))
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, err
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}

// inMigrationTx runs fn in a transaction that holds the schema's migration
// lock, and commits if fn succeeds.
func (s *Store) inMigrationTx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "phoneauth/pgstore migrate "+s.schema)
		if err != nil {
			return err
		}
		return fn(ctx, tx)
	})
}

// bootstrap creates the schema, if it is missing, and schema_migrations.
func (s *Store) bootstrap(ctx context.Context, tx pgx.Tx) error {
	var exists bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, s.schema).Scan(&exists)
	if err != nil {
		return err
	}
	if !exists {
		// Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE
		// privilege on the database even when the schema exists.
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.table("schema_migrations")+` (
	version    integer     PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`)
	return err
}

// apply runs migration m in tx unless it has been applied meanwhile (by
// another process, before this one got the lock), and records it.
func (s *Store) apply(ctx context.Context, tx pgx.Tx, m sqlstore.Migration) error {
	var done bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM `+s.table("schema_migrations")+` WHERE version = $1)`, m.Version).Scan(&done)
	if err != nil || done {
		return err
	}
	// The migration names its tables without a schema.
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, m.SQL); err != nil { // no arguments: simple protocol, several statements
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO `+s.table("schema_migrations")+` (version, name) VALUES ($1, $2)`, m.Version, m.Name)
	return err
}

// table returns the quoted, schema-qualified name of table.
func (s *Store) table(name string) string {
	return pgx.Identifier{s.schema, name}.Sanitize()
}
