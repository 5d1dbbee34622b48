package phoneauth

// StatsOf gives the package's external tests the counts of a MemoryStore.
func StatsOf(m *MemoryStore) memoryStats { return m.stats() }

// WaitRefunds waits for the limit refunds that a's failed requests started
// in the background (see Authenticator.refund).
func WaitRefunds(a *Authenticator) { a.refunds.Wait() }
