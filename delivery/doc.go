// Package delivery composes phoneauth Senders: Async sends in the
// background with a bounded queue and retries, and ByChannel routes SMS and
// WhatsApp messages to different providers with an optional fallback.
//
// Retrying is decided by the failure itself: an error that implements
// RetryableError (as the errors of the twilio and webhook packages do, and
// as Retryable makes one) says whether another attempt may succeed and how
// long the provider asked to wait. Any other error is permanent, so a code
// is never sent twice by mistake.
//
// A typical production setup:
//
//	sms, err := twilio.New(twilio.Config{...})
//	...
//	async, err := delivery.NewAsync(delivery.ByChannel{SMS: sms, WhatsApp: sms, FallbackToSMS: true},
//		delivery.AsyncOptions{Events: observe, Logger: logger})
//	...
//	defer async.Close(shutdownCtx) // drains the queue
//	auth, err := phoneauth.New(phoneauth.Config{Sender: async, ...})
package delivery
