package pgstore

import (
	"context"
	"log/slog"
	"strings"
)

// A SettingWarning names a server setting that weakens a guarantee of the
// Store, and what can go wrong with it.
type SettingWarning struct {
	Setting string // a PostgreSQL setting, e.g. "synchronous_commit"
	Value   string // its value for the Store's connections, e.g. "off"
	Risk    string // what can go wrong
}

// lostWrites is what a lost acknowledged write means for phoneauth.
const lostWrites = "a used code can verify a second time, a rotated refresh token is " +
	"accepted again (reuse detection lost), a session revoked or a limit charged comes back as it was"

// durableSettings are the settings single use depends on, each with the
// values that put it at risk and the risk.
var durableSettings = []struct {
	name  string
	risky func(value string) bool
	risk  string
}{
	{"fsync", isOff, "a crash of the database machine can lose or corrupt committed writes: " + lostWrites},
	{"synchronous_commit", isOff, "a crash of the database server loses the writes of its last moments, " +
		"committed and acknowledged: " + lostWrites},
	{"full_page_writes", isOff, "a crash of the database machine can corrupt tables: " + lostWrites},
}

func isOff(value string) bool { return strings.EqualFold(value, "off") }

// CheckSettings reads the server settings that the Store's guarantees
// depend on, as they apply to the Store's connections (role and database
// defaults included), and returns a warning for each one that puts them at
// risk; it also logs each warning to log (if not nil, else to
// Options.Logger). Call it once at start-up, after New:
//
//	if _, err := store.CheckSettings(ctx, logger); err != nil { … } // the database did not answer
//
// Single use of codes and the reuse detection of refresh tokens hold only
// if a write the database acknowledged survives a crash: fsync,
// synchronous_commit and full_page_writes must be on (PostgreSQL's
// defaults; synchronous_commit may also be local, remote_write or
// remote_apply). An error means the settings could not be read.
func (s *Store) CheckSettings(ctx context.Context, log *slog.Logger) ([]SettingWarning, error) {
	if log == nil {
		log = s.log
	}
	var warnings []SettingWarning
	for _, setting := range durableSettings {
		var value string
		// SHOW takes no parameters; the names are constants.
		if err := s.pool.QueryRow(ctx, "SHOW "+setting.name).Scan(&value); err != nil {
			return warnings, unavailable("show "+setting.name, err)
		}
		if setting.risky(value) {
			w := SettingWarning{Setting: setting.name, Value: value, Risk: setting.risk}
			warnings = append(warnings, w)
			log.LogAttrs(ctx, slog.LevelWarn, "pgstore: PostgreSQL is not durable",
				slog.String("setting", w.Setting), slog.String("value", w.Value), slog.String("risk", w.Risk))
		}
	}
	return warnings, nil
}
