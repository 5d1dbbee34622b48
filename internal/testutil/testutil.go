// Package testutil holds the helpers that the tests of several packages
// share. It imports nothing of phoneauth, so that the root package's own
// tests can use it too.
package testutil

import (
	"bytes"
	"context"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use: a log written from
// several goroutines and read by the test.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Recorder collects values, such as events, sent from several goroutines.
// Record has the signature of phoneauth.Config.Events when T is
// phoneauth.Event.
type Recorder[T any] struct {
	mu  sync.Mutex
	all []T
}

// Record appends v.
func (r *Recorder[T]) Record(_ context.Context, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, v)
}

// All returns a copy of the values recorded so far, oldest first.
func (r *Recorder[T]) All() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.all...)
}
