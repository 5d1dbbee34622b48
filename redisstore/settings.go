package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// A SettingWarning names a setting of the Redis server (or of the go-redis
// client) that weakens a guarantee of the Store or Limiter, and what can go
// wrong with it.
type SettingWarning struct {
	Node    string // the server's address; empty for a client option
	Setting string // e.g. "appendonly", or "ContextTimeoutEnabled"
	Value   string // its value, e.g. "no"; "unknown" if it could not be read
	Risk    string // what can go wrong
}

// lostWrites is what a lost acknowledged write means for phoneauth.
const lostWrites = "a used code can verify a second time, a rotated refresh token is " +
	"accepted again (reuse detection lost), limits start afresh, users and sessions are lost"

const (
	riskNoAOF = "without the append-only file a restart loses every write since the last RDB " +
		"snapshot, or everything: " + lostWrites
	riskNoFsync = "the operating system decides when the append-only file reaches the disk " +
		"(about every 30 s): a crash of the machine loses the writes of those seconds: " + lostWrites
	riskEviction = "Redis evicts keys when it reaches maxmemory, and every key of phoneauth has a " +
		"TTL: an evicted limit starts afresh, evicted past refresh tokens are accepted again"
	riskUnknownFsync = "CONFIG is not allowed, so appendfsync could not be read: it must be " +
		"always or everysec"
	riskUnchecked = "neither CONFIG nor INFO persistence is allowed, so persistence could not be " +
		"checked: appendonly must be yes and appendfsync always or everysec"
	riskNoDeadline = "go-redis ignores the deadline of the caller's context and waits for its own " +
		"ReadTimeout and WriteTimeout instead, retrying on timeouts: a call can outlast the " +
		"deadline several times over; set ContextTimeoutEnabled: true"
)

// CheckSettings reads the settings that the guarantees of a Store and
// Limiter on client depend on, and returns a warning for each one that puts
// them at risk; it also logs each warning to log (if not nil). Call it
// once at start-up:
//
//	if _, err := redisstore.CheckSettings(ctx, rdb, logger); err != nil { … } // Redis did not answer
//
// Single use of codes, the reuse detection of refresh tokens and the
// limits hold only if a write Redis acknowledged survives a restart and
// is never evicted: appendonly yes, appendfsync always (or everysec, which
// can lose the last second of writes when the machine, not only Redis,
// crashes) and maxmemory-policy noeviction, on every master. Where CONFIG
// is disabled (as on many managed services) it falls back to INFO
// persistence, which tells whether the append-only file is on but not how
// often it is synced, and says so. On the client it checks that
// ContextTimeoutEnabled is set, so that calls end at their context's
// deadline (a *redis.Client, *redis.ClusterClient or *redis.Ring; other
// clients are not checked).
//
// A Redis Cluster is checked on every master, a Ring on every shard. An
// error means a server could not be asked at all.
func CheckSettings(ctx context.Context, client redis.UniversalClient, log *slog.Logger) ([]SettingWarning, error) {
	if client == nil {
		return nil, errNilClient
	}
	var (
		mu       sync.Mutex
		warnings []SettingWarning
	)
	warn := func(w SettingWarning) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, w)
		if log != nil {
			log.LogAttrs(ctx, slog.LevelWarn, "redisstore: a setting weakens a guarantee",
				slog.String("node", w.Node), slog.String("setting", w.Setting),
				slog.String("value", w.Value), slog.String("risk", w.Risk))
		}
	}
	if !contextTimeoutEnabled(client) {
		warn(SettingWarning{Setting: "ContextTimeoutEnabled", Value: "false", Risk: riskNoDeadline})
	}
	eachNode := func(ctx context.Context, node *redis.Client) error {
		return checkNode(ctx, node, node.Options().Addr, warn)
	}
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, eachNode)
	case *redis.Ring:
		err = c.ForEachShard(ctx, eachNode)
	case *redis.Client:
		err = eachNode(ctx, c)
	default:
		err = checkNode(ctx, client, "", warn)
	}
	if err != nil {
		return warnings, unavailable("check settings", err)
	}
	return warnings, nil
}

// contextTimeoutEnabled reports whether client honours context deadlines,
// or true if its type is not known.
func contextTimeoutEnabled(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// checkNode checks the persistence and eviction settings of one server.
func checkNode(ctx context.Context, node redis.Cmdable, addr string, warn func(SettingWarning)) error {
	config := map[string]string{}
	var configErr error
	for _, name := range []string{"appendonly", "appendfsync", "maxmemory-policy"} {
		values, err := node.ConfigGet(ctx, name).Result()
		if err != nil {
			configErr = err
			break
		}
		config[name] = values[name]
	}
	if configErr == nil {
		switch {
		case config["appendonly"] != "yes":
			warn(SettingWarning{addr, "appendonly", config["appendonly"], riskNoAOF})
		case config["appendfsync"] != "always" && config["appendfsync"] != "everysec":
			warn(SettingWarning{addr, "appendfsync", config["appendfsync"], riskNoFsync})
		}
		if config["maxmemory-policy"] != "noeviction" {
			warn(SettingWarning{addr, "maxmemory-policy", config["maxmemory-policy"], riskEviction})
		}
		return nil
	}
	if !isRedisError(configErr) {
		return configErr // not a refusal: the server did not answer
	}
	// CONFIG is disabled or not allowed: INFO persistence says whether
	// the append-only file is on.
	info, err := node.Info(ctx, "persistence").Result()
	switch {
	case err != nil && !isRedisError(err):
		return err
	case err != nil:
		warn(SettingWarning{addr, "appendonly", "unknown", riskUnchecked})
	case !strings.Contains(info, "aof_enabled:1"):
		warn(SettingWarning{addr, "appendonly", "no", riskNoAOF})
	default:
		warn(SettingWarning{addr, "appendfsync", "unknown", riskUnknownFsync})
	}
	return nil
}

// isRedisError reports whether err is an error reply from the server (such
// as an unknown or forbidden command), not a failure to reach it.
func isRedisError(err error) bool {
	var redisErr redis.Error
	return errors.As(err, &redisErr)
}
