// Package workpool runs a command's days through a fixed number of
// workers, the way archive and restore both do: items handed out in
// order, no new item once the context is done, results back in order.
package workpool

import (
	"context"
	"sync"
)

// Each runs the items 0..n-1 on up to workers goroutines (at least one),
// each with the work function newWorker makes for it (so that a worker can
// keep state from item to item, e.g. a buffer). Items are started in
// index order; once ctx is done no further item is started, and the ones
// running finish. It returns the results of the items that were started,
// in index order.
func Each[T any](ctx context.Context, workers, n int, newWorker func() func(i int) T) []T {
	results := make([]T, n)
	started := make([]bool, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			work := newWorker()
			for i := range next {
				results[i] = work(i)
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		started[i] = true
		next <- i
	}
	close(next)
	wg.Wait()
	var done []T
	for i, ok := range started {
		if ok {
			done = append(done, results[i])
		}
	}
	return done
}
