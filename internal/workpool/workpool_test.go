package workpool

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestEachRunsEveryItemInOrder(t *testing.T) {
	var made atomic.Int64
	var mu sync.Mutex
	perWorker := map[int64][]int{}
	got := Each(context.Background(), 3, 50, func() func(int) int {
		id := made.Add(1)
		return func(i int) int {
			mu.Lock()
			perWorker[id] = append(perWorker[id], i)
			mu.Unlock()
			return i * i
		}
	})
	want := make([]int, 50)
	for i := range want {
		want[i] = i * i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	if made.Load() != 3 {
		t.Fatalf("%d workers, want 3", made.Load())
	}
	for id, items := range perWorker {
		if !slices.IsSorted(items) {
			t.Fatalf("worker %d took items out of order: %v", id, items)
		}
	}
	if n := len(Each(context.Background(), 8, 2, func() func(int) int { made.Add(1); return func(i int) int { return i } })); n != 2 || made.Load() != 5 {
		t.Fatalf("2 items on 8 workers: %d results, %d workers made", n, made.Load()-3)
	}
}

// Once the context is done no item is started; the ones started are
// reported, and only they.
func TestEachStopsStartingOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	got := Each(ctx, 1, 10, func() func(int) int {
		return func(i int) int {
			if i == 3 {
				cancel()
			}
			return i + 100
		}
	})
	// Item 4 may have been handed out before the cancel was seen.
	if len(got) < 4 || len(got) > 5 || got[0] != 100 || got[3] != 103 {
		t.Fatalf("results %v: want items 0..3 (and maybe 4)", got)
	}
}
