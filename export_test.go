package phoneauth

// StatsOf gives the package's external tests the counts of a MemoryStore.
func StatsOf(m *MemoryStore) memoryStats { return m.stats() }
