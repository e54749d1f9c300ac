package filebackend

import (
	"sync"

	"golang.org/x/sys/unix"
)

// folderSyncs shares fsyncs of one folder among concurrent callers. Under load many Puts
// make new key folders in one bucket folder at once, and each must fsync the bucket folder
// before it may acknowledge; one fsync that starts after a caller's change covers that
// change, so a caller joins the next fsync to start instead of issuing its own (a group
// commit, as Postgres does for WAL). Nothing waits for a batch to fill: a caller alone
// fsyncs at once, and while one fsync runs, everyone arriving shares the one after it.
type folderSyncs struct {
	mu    sync.Mutex
	m     map[fileID]*folderSync
	fsync func(fd int) error // fsyncFD; tests count and hold the calls
}

// fileID names a folder by inode, not path: a folder removed and made again under the same
// name is another folder, and an fsync of one covers nothing of the other.
type fileID struct{ dev, ino uint64 }

type folderSync struct {
	users   int        // callers between arrival and return; the entry goes at 0
	running *syncRound // in flight
	next    *syncRound // not started yet: starts when running ends
}

type syncRound struct {
	done chan struct{}
	err  error
}

// sync returns once an fsync of the folder fd, started after sync was called, has ended,
// with that fsync's error. fd must stay open until sync returns.
func (g *folderSyncs) sync(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fsyncFD(fd)
	}
	id := fileID{dev: st.Dev, ino: st.Ino}
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[fileID]*folderSync)
	}
	f := g.m[id]
	if f == nil {
		f = &folderSync{}
		g.m[id] = f
	}
	f.users++
	var r, wait *syncRound
	lead := true
	switch {
	case f.next != nil: // not started yet: it will start after this change
		r, lead = f.next, false
	case f.running != nil: // may have started before this change: lead the next one
		r = &syncRound{done: make(chan struct{})}
		f.next, wait = r, f.running
	default:
		r = &syncRound{done: make(chan struct{})}
		f.running = r
	}
	g.mu.Unlock()

	if lead {
		if wait != nil {
			<-wait.done
			g.mu.Lock()
			f.running, f.next = r, nil
			g.mu.Unlock()
		}
		fsync := g.fsync
		if fsync == nil {
			fsync = fsyncFD
		}
		r.err = fsync(fd)
		g.mu.Lock()
		f.running = nil
		close(r.done)
		g.mu.Unlock()
	} else {
		<-r.done
	}
	g.mu.Lock()
	if f.users--; f.users == 0 {
		delete(g.m, id)
	}
	g.mu.Unlock()
	return r.err
}
