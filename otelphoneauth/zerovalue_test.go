package otelphoneauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/otelphoneauth"
)

// A Metrics that New did not make, zero or nil, records nothing instead of
// panicking, whatever the event.
func TestMetricsNotMadeByNew(t *testing.T) {
	for name, m := range map[string]*otelphoneauth.Metrics{"zero": {}, "nil": nil} {
		for _, kind := range []phoneauth.EventKind{phoneauth.EventCodeSent, phoneauth.EventVerified, phoneauth.EventRateLimited, phoneauth.EventRangeThrottled, phoneauth.EventOperationDone} {
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Errorf("%s Metrics, %s: panic %v", name, kind, v)
					}
				}()
				m.Observe(context.Background(), phoneauth.Event{Kind: kind, Time: time.Now(), Phone: "+923012345678", Region: "PK"})
			}()
		}
	}
}
