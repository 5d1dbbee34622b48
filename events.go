package phoneauth

import (
	"context"
	"time"
)

// An EventKind names what happened.
type EventKind string

// The events an Authenticator reports to Config.Events.
const (
	EventCodeRequested  EventKind = "code_requested"  // a code was issued and stored
	EventCodeSent       EventKind = "code_sent"       // the Sender accepted it
	EventSendFailed     EventKind = "send_failed"     // the Sender failed; the code is dead
	EventVerified       EventKind = "verified"        // a code was verified
	EventVerifyFailed   EventKind = "verify_failed"   // a wrong code, or nothing to verify
	EventRateLimited    EventKind = "rate_limited"    // a limit refused a request
	EventRangeThrottled EventKind = "range_throttled" // the conversion guard refused a request (guard.go)
	EventSignedIn       EventKind = "signed_in"       // a session was created
	EventTokenRefreshed EventKind = "token_refreshed" // a refresh token was rotated
	EventTokenReused    EventKind = "token_reused"    // a rotated refresh token came back; session revoked
	EventSignedOut      EventKind = "signed_out"      // a session was ended by logout or revocation
	EventPhoneVerified  EventKind = "phone_verified"  // a signed-in user verified a phone
	EventPhoneChanged   EventKind = "phone_changed"   // …that replaced their phone: other sessions ended, old number told

	// EventOperationDone is reported last by every method that reaches the
	// Store (Request, Resend, Verify, Refresh, Logout, Sessions,
	// RevokeSession and the phone verification methods), whatever its
	// outcome: Operation names it, Duration is its time by the Clock, and
	// Err is its error, nil on success. Store and Limiter failures are
	// those matching ErrStoreUnavailable.
	EventOperationDone EventKind = "operation_done"

	// Reported by background senders (delivery.Async) once the provider
	// has answered, after the Authenticator's EventCodeSent for the queued
	// message.
	EventDelivered      EventKind = "delivered"       // the provider accepted a queued message
	EventDeliveryFailed EventKind = "delivery_failed" // a queued message finally failed
)

// An Event is one thing that happened, for metrics and audit logs. It never
// contains a code. Phone is the full E.164 number: mask it (MaskPhone)
// before writing it anywhere public.
type Event struct {
	Kind  EventKind
	Time  time.Time
	Phone string
	// OldPhone is the phone a user had before, for EventPhoneChanged.
	OldPhone    string
	ChallengeID string
	UserID      string
	SessionID   string
	DeviceID    string
	IP          string
	// Channel is the channel asked for, except in the outcome of a send
	// (EventCodeSent, EventSendFailed, EventDelivered, EventDeliveryFailed):
	// there it is the channel the Sender reported using, or trying last
	// (SMS after a WhatsApp failure; see SendReporter). Behind
	// delivery.Async, EventCodeSent is reported before the real send, so
	// only EventDelivered and EventDeliveryFailed can say so.
	Channel   Channel
	MessageID string
	// Region is the phone's region ("PK", or RegionNonGeographic) in the
	// events of a code: EventCodeRequested, EventCodeSent, EventSendFailed,
	// EventVerified and EventVerifyFailed.
	Region string
	// Scope is the limit that refused, for EventRateLimited and
	// EventRangeThrottled.
	Scope string
	// Range is the phone's number range (NumberRange), for an
	// EventRangeThrottled of ScopeRangeGuard; Region is set in every
	// EventRangeThrottled.
	Range string
	// Err is the failure, for the failure events and EventOperationDone.
	Err error
	// Operation and Duration describe the method that returned, for
	// EventOperationDone: "request", "resend", "verify", "refresh",
	// "logout", "sessions", "revoke_session", "start_phone_verification",
	// "resend_phone_verification" or "confirm_phone_verification".
	Operation string
	Duration  time.Duration
}

// emit reports e to Config.Events, stamped with the current time.
func (a *Authenticator) emit(ctx context.Context, e Event) {
	if a.cfg.Events == nil {
		return
	}
	e.Time = a.clock.Now()
	a.cfg.Events(ctx, e)
}

// start returns the start time of an operation for done: the Clock's time,
// or the zero time when no one observes events (and done does nothing).
func (a *Authenticator) start() time.Time {
	if a.cfg.Events == nil {
		return time.Time{}
	}
	return a.clock.Now()
}

// done reports EventOperationDone for operation op, started at start,
// returning *err. Methods call it first thing, as
//
//	defer a.done(ctx, "verify", a.start(), &err)
func (a *Authenticator) done(ctx context.Context, op string, start time.Time, err *error) {
	if a.cfg.Events == nil {
		return
	}
	now := a.clock.Now()
	a.cfg.Events(ctx, Event{Kind: EventOperationDone, Time: now, Operation: op, Duration: now.Sub(start), Err: *err})
}
