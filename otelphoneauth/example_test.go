package otelphoneauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/otelphoneauth"
)

// Metrics in Prometheus text: set Observe as the Authenticator's Events,
// and serve the handler at GET /metrics.
func ExampleNewPrometheus() {
	metrics, handler, err := otelphoneauth.NewPrometheus()
	if err != nil {
		log.Fatal(err)
	}
	key, _ := phoneauth.GenerateEd25519Key("k")
	keys, _ := phoneauth.NewKeySet(key)
	auth, err := phoneauth.New(phoneauth.Config{
		Store:  phoneauth.NewMemoryStore(),
		Sender: phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) { return "id", nil }),
		Secret: []byte("0123456789abcdef0123456789abcdef"),
		Tokens: phoneauth.TokenConfig{Keys: keys},
		Events: metrics.Observe,
	})
	if err != nil {
		log.Fatal(err)
	}
	auth.Request(context.Background(), phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"})
	auth.Request(context.Background(), phoneauth.RequestParams{Phone: "+923012345678", IP: "192.0.2.1"}) // in the cooldown

	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "phoneauth_codes_sent_total") || strings.HasPrefix(line, `phoneauth_limit_refusals_total{limit="cooldown"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// phoneauth_codes_sent_total{channel="sms",country="PK"} 1
	// phoneauth_limit_refusals_total{limit="cooldown"} 1
}
