package phoneauth

// LoginKey exposes loginKey to the external tests.
var LoginKey = loginKey

// StatsOf gives the package's external tests the counts of a MemoryStore.
func StatsOf(m *MemoryStore) memoryStats { return m.stats() }

// WaitRefunds waits for the clean-ups (limit refunds, session deletions)
// that a's failed requests started in the background (see
// Authenticator.cleanUp).
func WaitRefunds(a *Authenticator) { a.cleanup.Wait() }

// DefaultLimits returns the default limits, as New fills them in for a
// zero Limits.
func DefaultLimits() Limits {
	var c Config
	c.setDefaults()
	return c.Limits
}

// Defaults the external tests compute their expectations from.
const (
	DefaultMaxAttempts         = defaultMaxAttempts
	DefaultResendCooldown      = defaultResendCooldown
	DefaultIPv6AggregateFactor = defaultIPv6AggregateFactor
	DefaultRecentSignIn        = defaultRecentSignIn
	OutageQuiet                = outageQuiet
)
