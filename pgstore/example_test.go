package pgstore_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/pgstore"
)

// Replicas behind a load balancer share one PostgreSQL database: the
// store, its users and the limits.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // your pool; you close it
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Options{}) // schema "phoneauth"
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil { // idempotent, safe on every replica
		log.Fatal(err)
	}
	if _, err := store.CheckSettings(ctx, slog.Default()); err != nil {
		log.Fatal(err) // the database did not answer; a setting that is not durable is logged
	}
	go store.RunCleanup(ctx, time.Minute) // deletes expired rows until ctx ends

	auth, err := phoneauth.New(phoneauth.Config{
		Store:   store,           // challenges and sessions; users too (Config.Users nil)
		Limiter: store.Limiter(), // limits shared by all replicas
		// Sender, Secret and Tokens: the same on every replica.
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = auth
}
