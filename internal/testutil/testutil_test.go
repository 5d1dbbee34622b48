package testutil

import (
	"context"
	"strings"
	"sync"
	"testing"
)

func TestBufferAndRecorderUnderConcurrency(t *testing.T) {
	var b Buffer
	var r Recorder[int]
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				_, _ = b.Write([]byte("x"))
				r.Record(context.Background(), g*100+i)
			}
		}()
	}
	wg.Wait()
	if s := b.String(); s != strings.Repeat("x", 800) {
		t.Errorf("buffer holds %d bytes, want 800", len(s))
	}
	all := r.All()
	seen := make(map[int]bool, len(all))
	for _, v := range all {
		seen[v] = true
	}
	if len(all) != 800 || len(seen) != 800 {
		t.Errorf("%d values recorded (%d distinct), want 800", len(all), len(seen))
	}
	all[0] = -1
	if r.All()[0] == -1 {
		t.Error("All returned the recorder's own slice")
	}
}
