package otelphoneauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/phoneauth/phoneauth"
)

// TestDashboardQueriesExportedMetrics: every metric that a query of
// docs/grafana-dashboard.json names is one the module exports.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}

	// Make every metric appear: a sign-in and a failed send.
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.auth.Request(ctx, phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.Verify(ctx, phoneauth.VerifyParams{Phone: "+923012345678", Code: f.codes["+923012345678"], IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	f.sendErr = errors.New("down")
	_, _ = f.auth.Request(ctx, phoneauth.RequestParams{Phone: "+4915123456789", IP: "192.0.2.1"})
	exported := map[string]bool{}
	for series := range scrape(t, f.metrics) {
		name, _, _ := strings.Cut(series, "{")
		exported[name] = true
		if hist, ok := strings.CutSuffix(name, "_count"); ok { // a histogram's _bucket, _count and _sum
			exported[hist] = true
		}
	}

	name := regexp.MustCompile(`phoneauth_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			queries++
			for _, n := range name.FindAllString(target.Expr, -1) {
				if n = strings.TrimSuffix(n, "_bucket"); !exported[n] {
					t.Errorf("panel %q queries %s, which is not exported", p.Title, n)
				}
			}
		}
	}
	if queries < 8 {
		t.Errorf("%d queries in the dashboard, want the panels of every metric", queries)
	}
}
