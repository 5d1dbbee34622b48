package otelphoneauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/otelphoneauth"
)

// BenchmarkObserve measures recording one event of each kind a sign-in
// produces, with the Prometheus exporter behind.
func BenchmarkObserve(b *testing.B) {
	m, _, err := otelphoneauth.NewPrometheus()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []phoneauth.Event{
		{Kind: phoneauth.EventCodeSent, Channel: phoneauth.SMS, Region: "PK"},
		{Kind: phoneauth.EventVerified, Region: "PK"},
		{Kind: phoneauth.EventRateLimited, Scope: "cooldown"},
		{Kind: phoneauth.EventOperationDone, Operation: "verify", Duration: 3 * time.Millisecond},
	} {
		b.Run(string(e.Kind), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Observe(ctx, e)
			}
		})
	}
}
