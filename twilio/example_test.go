package twilio_test

import (
	"log"
	"os"

	"github.com/phoneauth/phoneauth"
	"github.com/phoneauth/phoneauth/delivery"
	"github.com/phoneauth/phoneauth/twilio"
)

// SMS through a Messaging Service, WhatsApp with an authentication
// template, sent in the background with retries.
func Example() {
	sender, err := twilio.New(twilio.Config{
		AccountSID:          os.Getenv("TWILIO_ACCOUNT_SID"),
		APIKeySID:           os.Getenv("TWILIO_API_KEY_SID"),
		APIKeySecret:        os.Getenv("TWILIO_API_KEY_SECRET"),
		MessagingServiceSID: os.Getenv("TWILIO_MESSAGING_SERVICE_SID"),
		WhatsAppFrom:        "+15550100",
		WhatsAppContentSID:  os.Getenv("TWILIO_WHATSAPP_CONTENT_SID"),
	})
	if err != nil {
		log.Fatal(err)
	}
	async, err := delivery.NewAsync(sender, delivery.AsyncOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_ = phoneauth.Config{Sender: async /* , Store, Secret, Tokens… */}
}
