package filebackend

import (
	"strings"
	"sync"
)

// folderPins counts this process's Puts under way in each folder (and each folder above it),
// so that removeEmptyParents leaves a folder alone while a Put of ours is about to fill it.
// An unnamed file (O_TMPFILE) is no entry, so a key's folder looks empty from its creation
// until the new blob's link; a Delete of the key's other version emptying it meanwhile
// would remove it under the Put, which then makes it again and retries. Under load, with
// writers and deleters sharing a folder, a Put lost that race 64 times in a row
// (TestPutDeleteRace under -race). With pins, no Delete of this process removes a folder a
// Put of this process uses; other processes on the same folder (and SweepTemp) are still
// met by the Put's retries.
type folderPins struct {
	mu sync.Mutex
	m  map[string]int
}

func (p *folderPins) pin(dirs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]int{}
	}
	for i := 1; i <= len(dirs); i++ {
		p.m[strings.Join(dirs[:i], "/")]++
	}
}

func (p *folderPins) unpin(dirs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 1; i <= len(dirs); i++ {
		k := strings.Join(dirs[:i], "/")
		if p.m[k]--; p.m[k] <= 0 {
			delete(p.m, k)
		}
	}
}

// removeIfUnpinned runs remove (the folder dirs' rmdir) unless a Put pins dirs; under the
// lock, so that no Put pins it between the look and the rmdir. It reports whether remove ran.
func (p *folderPins) removeIfUnpinned(dirs []string, remove func() error) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[strings.Join(dirs, "/")] > 0 {
		return false, nil
	}
	return true, remove()
}
