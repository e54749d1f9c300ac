package filebackend

import (
	"errors"
	"runtime"
	"sync"
	"testing"
)

// TestFolderSyncsShare: callers arriving while an fsync runs share one fsync that starts
// after it ends (never the running one, which may predate their change), and get its error.
func TestFolderSyncsShare(t *testing.T) {
	t.Parallel()
	fd := unixOpenDir(t, t.TempDir())
	boom := errors.New("boom")
	started := make(chan int, 4)
	release := []chan error{make(chan error), make(chan error)}
	var calls int
	g := &folderSyncs{fsync: func(int) error {
		calls++ // the rounds of one folder never overlap: no lock needed
		if calls > len(release) {
			return nil
		}
		started <- calls
		return <-release[calls-1]
	}}
	users := func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		n := 0
		for _, f := range g.m {
			n += f.users
		}
		return n
	}

	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = g.sync(fd) })
	if n := <-started; n != 1 {
		t.Fatalf("first fsync is call %d", n)
	}
	for i := 1; i < 3; i++ { // arrive while the first fsync runs
		wg.Go(func() { errs[i] = g.sync(fd) })
	}
	for users() != 3 {
		runtime.Gosched()
	}
	select {
	case n := <-started:
		t.Fatalf("fsync %d started while the first still ran", n)
	default:
	}
	release[0] <- nil
	if n := <-started; n != 2 {
		t.Fatalf("second fsync is call %d", n)
	}
	release[1] <- boom
	wg.Wait()
	if errs[0] != nil || !errors.Is(errs[1], boom) || !errors.Is(errs[2], boom) {
		t.Errorf("errors = %v, want nil, boom, boom", errs)
	}
	if calls != 2 {
		t.Errorf("%d fsyncs for 3 callers, want 2", calls)
	}
	if len(g.m) != 0 {
		t.Errorf("%d folders still tracked", len(g.m))
	}
	if err := g.sync(fd); err != nil || calls != 3 { // alone: at once, no error left over
		t.Errorf("lone sync: %v after %d fsyncs", err, calls)
	}
}
