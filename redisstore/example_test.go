package redisstore_test

import (
	"context"
	"log"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/redisstore"
)

// Replicas behind a load balancer share one Redis (or Valkey, or a Redis
// Cluster): the store, its users and the limits.
func ExampleNew() {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"127.0.0.1:6379"},
		ContextTimeoutEnabled: true, // calls end at their context's deadline
	})
	defer rdb.Close()
	if _, err := redisstore.CheckSettings(ctx, rdb, slog.Default()); err != nil {
		log.Fatal(err) // Redis did not answer; a setting that is not durable is logged
	}
	store := redisstore.New(rdb, redisstore.Options{Prefix: "myapp"})
	auth, err := phoneauth.New(phoneauth.Config{
		Store:   store, // challenges and sessions; users too (Config.Users nil)
		Limiter: redisstore.NewLimiter(rdb, redisstore.Options{Prefix: "myapp"}),
		// Sender, Secret and Tokens: the same on every replica.
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = auth
}
