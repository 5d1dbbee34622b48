// Package warnlog is the logger of a phoneauth component that was given
// none: the warnings and errors of the library reach slog.Default(), so a
// misconfigured integration does not fail silently, while its routine
// lines (a code sent, a wrong code) stay out of the application's log.
package warnlog

import (
	"context"
	"log/slog"
)

// Default returns a logger that passes records of level Warn and above to
// the handler of slog.Default() as it is at the call, and drops the rest.
func Default() *slog.Logger {
	return slog.New(floor{slog.Default().Handler(), slog.LevelWarn})
}

// floor is a handler that drops records below min.
type floor struct {
	slog.Handler
	min slog.Level
}

func (f floor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f floor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return floor{f.Handler.WithAttrs(attrs), f.min}
}

func (f floor) WithGroup(name string) slog.Handler {
	return floor{f.Handler.WithGroup(name), f.min}
}
