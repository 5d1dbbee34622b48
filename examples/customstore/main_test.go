package main

import (
	"context"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/storetest"
)

// The backend passes the conformance suite: this test is the one to copy.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) phoneauth.Store { return newStore() })
}

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "session revoked") {
		t.Fatalf("output:\n%s", out.String())
	}
}
