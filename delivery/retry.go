package delivery

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/phoneauth/phoneauth"
)

// A RetryableError is a send failure that says whether sending the same
// message again may succeed, and how soon. Async retries a failed send only
// if some error in its chain (errors.As) is a RetryableError whose Temporary
// method returns true; every other error is permanent, because a retried
// message that had in fact been delivered reaches the phone twice.
//
// The errors of the twilio and webhook packages implement it; a Sender of
// your own can return one made by Retryable.
type RetryableError interface {
	error
	// Temporary reports whether the failure may pass: a rate limit, a
	// provider outage, a network error before the message was accepted.
	Temporary() bool
	// RetryDelay is the wait the provider asked for before another try
	// (its Retry-After), or 0 if it did not say.
	RetryDelay() time.Duration
}

// IsTemporary reports whether err says, through a RetryableError in its
// chain, that the send may be retried.
func IsTemporary(err error) bool {
	var r RetryableError
	return errors.As(err, &r) && r.Temporary()
}

// RetryDelay returns the wait before a retry that err asks for, through a
// RetryableError in its chain, or 0.
func RetryDelay(err error) time.Duration {
	var r RetryableError
	if errors.As(err, &r) {
		return max(r.RetryDelay(), 0)
	}
	return 0
}

// Retryable wraps err as a temporary failure to be retried no sooner than
// after (0: as soon as the backoff allows). The result matches
// phoneauth.ErrSendFailed and everything err matches. Retryable(nil, d) is
// nil.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryable{err: err, after: after}
}

type retryable struct {
	err   error
	after time.Duration
}

func (e *retryable) Error() string {
	if e.after > 0 {
		return fmt.Sprintf("%v (temporary; retry after %s)", e.err, e.after)
	}
	return fmt.Sprintf("%v (temporary)", e.err)
}

func (e *retryable) Unwrap() error             { return e.err }
func (e *retryable) Is(target error) bool      { return target == phoneauth.ErrSendFailed }
func (e *retryable) Temporary() bool           { return true }
func (e *retryable) RetryDelay() time.Duration { return e.after }

// ParseRetryAfter reads an HTTP Retry-After header value (RFC 9110 section
// 10.2.3): a number of seconds or an HTTP date, relative to now. It returns
// 0 for an empty, malformed or past value.
func ParseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(value, 10, 64); err == nil {
		if secs > math.MaxInt64/uint64(time.Second) {
			return math.MaxInt64
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(value); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
