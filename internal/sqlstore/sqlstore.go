// Package sqlstore holds what the SQL stores, pgstore and sqlitestore,
// share: reading their embedded migrations and their cleanup loop.
package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Migration is one versioned step of a store's schema, from a file named
// NNNN_name.sql. A released migration is never edited: a change is a new
// file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the migrations in fsys's directory dir (every
// NNNN_name.sql there), sorted by version. store names the store in
// errors.
func Migrations(fsys fs.FS, dir, store string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	ms := make([]Migration, 0, len(names))
	for _, p := range names {
		num, name, _ := strings.Cut(strings.TrimSuffix(path.Base(p), ".sql"), "_")
		version, err := strconv.Atoi(num)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("%s: migration file %s: name must start with a positive number", store, p)
		}
		if i := slices.IndexFunc(ms, func(m Migration) bool { return m.Version == version }); i >= 0 {
			return nil, fmt.Errorf("%s: migration file %s: number %d is also migration %q's", store, p, version, ms[i].Name)
		}
		sql, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: version, Name: name, SQL: string(sql)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return ms, nil
}

// RunCleanup calls cleanup with now(), and then every interval (one minute
// when every is not positive), until ctx is done. A failure is logged as
// an error and the loop goes on; a cleanup that deleted rows is logged at
// debug level. store names the store in the log lines.
func RunCleanup(ctx context.Context, every time.Duration, now func() time.Time,
	cleanup func(context.Context, time.Time) (int64, error), log *slog.Logger, store string) {
	if every <= 0 {
		every = time.Minute
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		n, err := cleanup(ctx, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.LogAttrs(ctx, slog.LevelError, store+": cleanup failed", slog.String("error", err.Error()))
		case n > 0:
			log.LogAttrs(ctx, slog.LevelDebug, store+": cleanup", slog.Int64("deleted", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
