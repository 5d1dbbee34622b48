package pgstore

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
)

func TestMigrationFiles(t *testing.T) {
	ms, err := migrations()
	must(t, err)
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 || m.Name == "" || m.SQL == "" {
			t.Fatalf("migration %d: version %d, name %q, %d bytes of SQL; want versions 1, 2, 3… each with a name and SQL",
				i, m.Version, m.Name, len(m.SQL))
		}
	}
}

// appliedVersions returns the rows of s's schema_migrations.
func appliedVersions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.pool.Query(ctx, "SELECT version FROM "+s.table("schema_migrations")+" ORDER BY version")
	must(t, err)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	must(t, err)
	return versions
}

func wantAllApplied(t *testing.T, s *Store) {
	t.Helper()
	ms, err := migrations()
	must(t, err)
	got := appliedVersions(t, s)
	if len(got) != len(ms) {
		t.Fatalf("schema_migrations holds versions %v, want 1…%d once each", got, len(ms))
	}
	// And the tables work.
	c := newChallenge(t0)
	must(t, s.PutChallenge(ctx, c))
	_, err = s.GetChallenge(ctx, c.Key, t0)
	must(t, err)
}

func TestMigrateTwice(t *testing.T) {
	var counter statementCounter
	s := freshSchema(t, openPool(t, &counter))
	must(t, s.Migrate(ctx))
	wantAllApplied(t, s)
	n := counter.count(func() { must(t, s.Migrate(ctx)) })
	wantAllApplied(t, s)
	if n != 2 {
		t.Fatalf("Migrate of a migrated schema sent %d statements, want 2 (reads only)", n)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	pool := openPool(t, nil)
	s := freshSchema(t, pool)
	errs := make([]error, 8)
	run(len(errs), func(i int) {
		// Separate Stores, as on replicas starting together.
		replica, err := New(pool, Options{Schema: s.Schema()})
		if err == nil {
			err = replica.Migrate(ctx)
		}
		errs[i] = err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate %d of %d concurrent calls: %v", i, len(errs), err)
		}
	}
	wantAllApplied(t, s)
}

// TestRolePrivileges checks the privileges the README lists: a role with
// USAGE on the schema, SELECT, INSERT, UPDATE, DELETE on its tables and
// EXECUTE on its function can call Migrate on a migrated schema and use
// everything; without CREATE it cannot migrate a new one.
func TestRolePrivileges(t *testing.T) {
	admin := openPool(t, nil)
	s := freshSchema(t, admin)
	must(t, s.Migrate(ctx))

	role := "pgstore_test_app_" + strings.ToLower(rand.Text()[:8])
	schema := pgx.Identifier{s.Schema()}.Sanitize()
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
		// Where EXECUTE is not granted to PUBLIC (PostgreSQL's default),
		// the grant below is what the role needs.
		"REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA " + schema + " FROM PUBLIC",
		"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA " + schema + " TO " + role,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			needServer(t, "cannot set up a test role (%s): %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		for _, stmt := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := admin.Exec(ctx, stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})

	cfg := admin.Config().Copy()
	cfg.ConnConfig.User = role
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	must(t, err)
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		needServer(t, "cannot connect as role %s (the test server trusts loopback logins): %v", role, err)
	}

	app, err := New(pool, Options{Schema: s.Schema()})
	must(t, err)
	must(t, app.Migrate(ctx))
	c := newChallenge(t0)
	must(t, app.PutChallenge(ctx, c))
	_, err = app.AttemptChallenge(ctx, c.Key, c.ID, t0)
	must(t, err)
	must(t, app.DeleteChallenge(ctx, c.Key, c.ID))
	sess := newSession(t0)
	must(t, app.CreateSession(ctx, sess))
	_, _, err = rotate(app, sess.ID, sess.RefreshHash, t0, 0)
	must(t, err)
	_, err = app.ListSessions(ctx, sess.UserID, t0)
	must(t, err)
	must(t, app.DeleteSession(ctx, sess.ID))
	_, _, err = app.CreateUser(ctx, "+999"+rand.Text()[:11], nil)
	must(t, err)
	_, _, err = app.Limiter().Allow(ctx, "k", phoneauth.Limit{Events: 1, Per: 1e9}, t0)
	must(t, err)
	refused, _, err := app.Limiter().AllowAll(ctx, []phoneauth.LimitCheck{{Key: "k2", Limit: phoneauth.Limit{Events: 2, Per: 1e9}}, {Key: "k3", Limit: phoneauth.Limit{Events: 1, Per: 1e9}}}, t0)
	if err != nil || refused != -1 {
		t.Fatalf("AllowAll as the application role: %d, %v; want -1, nil", refused, err)
	}
	must(t, app.Limiter().Reset(ctx, "k"))
	_, err = app.Cleanup(ctx, t0)
	must(t, err)

	// Without CREATE, a schema cannot be made.
	fresh, err := New(pool, Options{Schema: "pgstore_test_" + strings.ToLower(rand.Text()[:10])})
	must(t, err)
	err = fresh.Migrate(ctx)
	if !errors.Is(err, phoneauth.ErrStoreUnavailable) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Migrate of a new schema without CREATE: %v, want a permission error matching ErrStoreUnavailable", err)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(nil, Options{}); !errors.Is(err, phoneauth.ErrInvalidConfig) {
		t.Fatalf("New(nil): %v, want ErrInvalidConfig", err)
	}
	pool := &pgxpool.Pool{} // never used: New does not touch the database
	if _, err := New(pool, Options{Schema: strings.Repeat("x", 64)}); !errors.Is(err, phoneauth.ErrInvalidConfig) {
		t.Fatalf("New with a 64-byte schema name: %v, want ErrInvalidConfig", err)
	}
	s, err := New(pool, Options{})
	must(t, err)
	if s.Schema() != DefaultSchema {
		t.Fatalf("default schema %q", s.Schema())
	}
	if got := s.table("users"); got != `"phoneauth"."users"` {
		t.Fatalf("table name %s", got)
	}
}
