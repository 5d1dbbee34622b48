package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestMigrationsSortedByNumber(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql":   {Data: []byte("SELECT 10")},
		"m/0002_second.sql":  {Data: []byte("SELECT 2")},
		"m/0001_init.sql":    {Data: []byte("SELECT 1")},
		"m/README.md":        {Data: []byte("not a migration")},
		"other/0003_not.sql": {Data: []byte("elsewhere")},
	}
	ms, err := Migrations(fsys, "m", "teststore")
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{{1, "init", "SELECT 1"}, {2, "second", "SELECT 2"}, {10, "later", "SELECT 10"}}
	if len(ms) != len(want) {
		t.Fatalf("got %v, want %v", ms, want)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("migration %d: got %+v, want %+v", i, ms[i], want[i])
		}
	}
}

func TestMigrationsRefuseBadNames(t *testing.T) {
	for name, files := range map[string][]string{
		"no number":   {"m/init.sql"},
		"zero":        {"m/0000_zero.sql"},
		"negative":    {"m/-1_minus.sql"},
		"same number": {"m/0001_a.sql", "m/01_b.sql"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1")}
		}
		_, err := Migrations(fsys, "m", "teststore")
		if err == nil || !strings.HasPrefix(err.Error(), "teststore: migration file m/") {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
}

func TestRunCleanupLogsAndStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	answers := []struct {
		n   int64
		err error
	}{{0, errors.New("store down")}, {7, nil}, {0, nil}}
	var calls []time.Time
	cleanup := func(_ context.Context, now time.Time) (int64, error) {
		calls = append(calls, now)
		a := answers[len(calls)-1]
		if len(calls) == len(answers) {
			cancel()
		}
		return a.n, a.err
	}
	done := make(chan struct{})
	go func() {
		RunCleanup(ctx, time.Millisecond, func() time.Time { return at }, cleanup, log, "teststore")
		close(done)
	}()
	<-done
	if len(calls) != len(answers) {
		t.Fatalf("cleanup ran %d times, want %d", len(calls), len(answers))
	}
	for _, c := range calls {
		if !c.Equal(at) {
			t.Errorf("cleanup got now %v, want the clock's %v", c, at)
		}
	}
	out := logs.String()
	for _, want := range []string{`level=ERROR msg="teststore: cleanup failed" error="store down"`, `level=DEBUG msg="teststore: cleanup" deleted=7`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d log lines, want 2 (nothing for a cleanup that deleted nothing):\n%s", n, out)
	}
}
