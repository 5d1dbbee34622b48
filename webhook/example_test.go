package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/webhook"
)

// A delivery service of your own verifies and decodes what the Sender
// posts.
func Example() {
	secret := webhook.NewSecret() // shared by both sides

	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now(), 0); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		fmt.Printf("deliver %s to %s by %s\n", p.Code, p.To, p.Channel)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"messageId": "dlv-1"}`)
	}))
	defer receiver.Close()

	sender, err := webhook.New(webhook.Config{URL: receiver.URL, Secret: secret})
	if err != nil {
		panic(err)
	}
	id, err := sender.Send(context.Background(), phoneauth.Message{
		To: "+923012345678", Channel: phoneauth.SMS, Code: "123456", Text: "Your code is 123456.", ChallengeID: "ch_1",
	})
	fmt.Println(id, err)
	// Output:
	// deliver 123456 to +923012345678 by sms
	// dlv-1 <nil>
}
