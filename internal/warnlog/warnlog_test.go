package warnlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestDefaultPassesWarningsToSlogDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))

	l := Default().With("component", "test").WithGroup("g")
	l.Info("routine line")
	l.Debug("debug line")
	l.Warn("misconfigured", "k", "v")
	l.Error("failed")
	out := buf.String()
	if strings.Contains(out, "routine line") || strings.Contains(out, "debug line") {
		t.Fatalf("lines below Warn passed:\n%s", out)
	}
	for _, want := range []string{"level=WARN msg=misconfigured component=test g.k=v", "level=ERROR msg=failed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
}
