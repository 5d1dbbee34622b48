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
// The channel a message went out on is reported, not assumed: ByChannel is
// a phoneauth.SendReporter, so after a fallback from WhatsApp to SMS the
// Authenticator's RequestResult.Channel and EventCodeSent say SMS. Async
// answers before the real send, so behind it the Authenticator reports the
// channel asked for, and Async's own EventDelivered or EventDeliveryFailed
// reports the channel used (it sends through phoneauth.SendReport, which
// keeps the report of the Sender it wraps).
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
