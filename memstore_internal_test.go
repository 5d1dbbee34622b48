package phoneauth

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// After a burst has expired and been swept, the store rebuilds its
// challenge tables at their new size: Go maps never give back the memory of
// deleted entries. A table's high-water mark is reset only by a rebuild, so
// it shows the rebuild without measuring the heap.
func TestMemoryStoreRebuildsTablesAfterBurst(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(i int, at time.Time) {
		t.Helper()
		c := Challenge{Key: fmt.Sprintf("login:+92301%07d", i), ID: fmt.Sprint(i), Phone: fmt.Sprintf("+92301%07d", i),
			Channel: SMS, CodeHash: []byte("hash"), MaxAttempts: 5, CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
		if err := s.PutChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	const burst = 40_000 // some 2,500 a shard, over the 1,024 under which no table is rebuilt
	for i := range burst {
		put(i, start)
	}
	for i := range s.challenges {
		if sh := &s.challenges[i]; sh.peak < 1024 || sh.peak != len(sh.m) {
			t.Fatalf("shard %d holds %d challenges with a high-water mark of %d: the burst is too small for the test", i, len(sh.m), sh.peak)
		}
	}
	later := start.Add(time.Hour)
	for i := range 400 { // writes to every shard, each sweeping it
		put(burst+i, later)
	}
	if got := s.stats().Challenges; got != 400 {
		t.Fatalf("%d challenges after the sweep, want 400", got)
	}
	for i := range s.challenges {
		if sh := &s.challenges[i]; sh.peak != len(sh.m) {
			t.Errorf("shard %d holds %d challenges with a high-water mark of %d: its table was not rebuilt", i, len(sh.m), sh.peak)
		}
	}
}

func TestShrink(t *testing.T) {
	m := make(map[string]int)
	for i := range 2000 {
		m[fmt.Sprint(i)] = i
	}
	peak := len(m)
	if got := shrink(m, &peak); len(got) != 2000 || peak != 2000 {
		t.Fatalf("a full table: %d entries, peak %d", len(got), peak)
	}
	for i := range 1600 {
		delete(m, fmt.Sprint(i))
	}
	got := shrink(m, &peak)
	if len(got) != 400 || peak != 400 || got["1999"] != 1999 {
		t.Fatalf("a fifth left: %d entries, peak %d", len(got), peak)
	}
	got["new"] = 1
	if _, ok := m["new"]; ok {
		t.Fatal("shrink returned the old table below a quarter of its peak")
	}
	small, smallPeak := map[string]int{"a": 1}, 1000 // under 1,024: never rebuilt
	if shrink(small, &smallPeak); smallPeak != 1000 {
		t.Fatalf("a small table was rebuilt: peak %d", smallPeak)
	}
}
