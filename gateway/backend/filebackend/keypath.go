package filebackend

import (
	"fmt"
	"strings"

	"github.com/stowage/stowage/gateway/backend"
)

const (
	// maxSegment is NAME_MAX: the longest file name ext4, xfs and btrfs accept.
	maxSegment = 255
	// maxPath is PATH_MAX less its NUL: the longest absolute blob path we create, so that
	// path-based tools (backups, the reference server reading the same folder) can reach it.
	maxPath = 4095
	// tempPrefix starts every temporary file name. '~' is outside the object-name alphabet
	// (spec §0.8), and keys with a segment starting with tempPrefix are refused, so the
	// sweeper can never mistake a blob for a temporary file.
	tempPrefix = ".stowage-tmp~"
)

// splitKey turns key into the directory segments of its blob path below the base folder.
//
// It is the store's last line of defence (the engine validated the key first): no result can
// name the base itself or anything outside it. Empty segments ("a//b", a trailing "/") are
// collapsed, as the reference server's path.join does; they cannot make two versions collide
// because the engine ends every key with a fresh version id.
func splitKey(key string) ([]string, error) {
	switch {
	case key == "":
		return nil, invalidKey(key, "empty key")
	case key[0] == '/':
		return nil, invalidKey(key, "absolute path")
	case strings.IndexByte(key, 0) >= 0:
		return nil, invalidKey(key, "NUL byte")
	}
	segs := make([]string, 0, strings.Count(key, "/")+1)
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			continue
		case seg == "." || seg == "..":
			return nil, invalidKey(key, fmt.Sprintf("%q segment", seg))
		case len(seg) > maxSegment:
			return nil, invalidKey(key, fmt.Sprintf("segment of %d bytes (limit %d)", len(seg), maxSegment))
		case strings.HasPrefix(seg, tempPrefix):
			return nil, invalidKey(key, "segment uses the reserved temporary-file prefix")
		}
		segs = append(segs, seg)
	}
	// Unreachable while key is non-empty and relative, kept so no caller ever gets the base.
	if len(segs) == 0 {
		return nil, invalidKey(key, "no path segments")
	}
	return segs, nil
}

// pathLen is the length of base joined with segs.
func pathLen(base string, segs []string) int {
	n := len(base)
	for _, s := range segs {
		n += 1 + len(s)
	}
	return n
}

func invalidKey(key, why string) error {
	const show = 128 // keys can be long; the reason matters more than the tail
	if len(key) > show {
		key = key[:show] + "..."
	}
	return fmt.Errorf("%w: %q: %s", backend.ErrInvalidKey, key, why)
}
