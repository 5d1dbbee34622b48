package delivery

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/phoneauth/phoneauth"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 2, 3, 14, 46, 16, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"-1", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"Tue, 03 Feb 2026 14:47:16 GMT", time.Minute},
		{"99999999999999999999", 0}, // does not fit 64 bits: malformed
		{"9999999999999", math.MaxInt64},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	base := errors.New("busy")
	err := fmt.Errorf("twilio: %w", Retryable(base, 3*time.Second))
	if !IsTemporary(err) || RetryDelay(err) != 3*time.Second {
		t.Errorf("IsTemporary %v, RetryDelay %v", IsTemporary(err), RetryDelay(err))
	}
	if !errors.Is(err, base) || !errors.Is(err, phoneauth.ErrSendFailed) {
		t.Errorf("%v does not match its cause and ErrSendFailed", err)
	}
	if Retryable(nil, time.Second) != nil {
		t.Error("Retryable(nil) != nil")
	}
	if IsTemporary(base) || RetryDelay(base) != 0 || IsTemporary(nil) {
		t.Error("a plain error is temporary")
	}
	if IsTemporary(notTemporary{}) || RetryDelay(notTemporary{}) != time.Second {
		t.Error("Temporary() false not honoured")
	}
	if got := Retryable(base, 0).Error(); got != "busy (temporary)" {
		t.Errorf("Error() = %q", got)
	}
}
