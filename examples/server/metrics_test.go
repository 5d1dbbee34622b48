package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServerMetrics signs in through HTTP, is refused once by the
// cooldown, and reads the counts back from GET /metrics.
func TestServerMetrics(t *testing.T) {
	base, stop, _ := start(t)
	defer stop()
	request := `{"phone": "+923001234567", "deviceId": "d1"}`
	status, m := post(t, base+"/auth/otp/request", request)
	if status != 200 {
		t.Fatalf("request: %d %v", status, m)
	}
	otp := m["data"].(map[string]any)["otp"].(string)
	if status, m := post(t, base+"/auth/otp/request", request); status != 429 {
		t.Fatalf("request in the cooldown: %d %v", status, m)
	}
	status, m = post(t, base+"/auth/otp/verify", `{"otpInfo": {"phone": "+923001234567", "otp": "`+otp+`"}, "deviceInfo": {"deviceId": "d1"}}`)
	if status != 200 {
		t.Fatalf("verify: %d %v", status, m)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := string(raw)
	for _, line := range []string{
		`phoneauth_codes_sent_total{channel="sms",country="PK"} 1`,
		`phoneauth_verifications_total{country="PK",result="success"} 1`,
		`phoneauth_limit_refusals_total{limit="cooldown"} 1`,
		`phoneauth_limit_refusals_total{limit="global"} 0`,
		`phoneauth_store_errors_total 0`,
		`phoneauth_operation_duration_seconds_count{operation="request",outcome="ok"} 1`,
		`phoneauth_operation_duration_seconds_count{operation="request",outcome="refused"} 1`,
		`phoneauth_operation_duration_seconds_count{operation="verify",outcome="ok"} 1`,
		`# TYPE phoneauth_operation_duration_seconds histogram`,
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("/metrics lacks the line %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
