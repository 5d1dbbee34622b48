package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/delivery"
)

// A Sender of your own tells Async which failures are worth a retry with
// delivery.Retryable.
func ExampleRetryable() {
	attempts := 0
	flaky := phoneauth.SenderFunc(func(ctx context.Context, m phoneauth.Message) (string, error) {
		attempts++
		if attempts == 1 {
			return "", delivery.Retryable(errors.New("gateway busy"), 0)
		}
		return "msg-42", nil
	})
	done := make(chan struct{})
	async, err := delivery.NewAsync(flaky, delivery.AsyncOptions{
		Workers:   1,
		BaseDelay: time.Millisecond,
		Events: func(_ context.Context, e phoneauth.Event) {
			fmt.Println(e.Kind, e.MessageID, "after", attempts, "attempts")
			close(done)
		},
	})
	if err != nil {
		panic(err)
	}
	if _, err := async.Send(context.Background(), phoneauth.Message{To: "+15550100", Code: "123456"}); err != nil {
		panic(err)
	}
	<-done
	_ = async.Close(context.Background())
	// Output: delivered msg-42 after 2 attempts
}

// WhatsApp first, SMS when WhatsApp fails.
func ExampleByChannel() {
	whatsapp := phoneauth.SenderFunc(func(context.Context, phoneauth.Message) (string, error) {
		return "", errors.New("not a WhatsApp user")
	})
	sms := phoneauth.SenderFunc(func(_ context.Context, m phoneauth.Message) (string, error) {
		return "sms-to-" + m.To + "-via-" + string(m.Channel), nil
	})
	s := delivery.ByChannel{SMS: sms, WhatsApp: whatsapp, FallbackToSMS: true}
	id, err := s.Send(context.Background(), phoneauth.Message{To: "+15550100", Channel: phoneauth.WhatsApp})
	fmt.Println(id, err)
	// Output: sms-to-+15550100-via-sms <nil>
}
