package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// BinDir returns the folder holding the PostgreSQL server programs (initdb, postgres,
// pg_ctl): $PG_BINDIR when set, else the newest /usr/lib/postgresql/<major>/bin (the
// Debian layout, whose server programs are not on PATH), else the folder of initdb on PATH.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BINDIR"); dir != "" {
		if !isExecutable(filepath.Join(dir, "initdb")) {
			return "", fmt.Errorf("pgcluster: PG_BINDIR=%s has no initdb", dir)
		}
		return dir, nil
	}
	if dir := newestDebianBinDir("/usr/lib/postgresql"); dir != "" {
		return dir, nil
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("pgcluster: no PostgreSQL server binaries found (set PG_BINDIR, or install postgresql)")
	}
	return filepath.Dir(p), nil
}

// newestDebianBinDir picks the highest numeric major version under root that has initdb.
func newestDebianBinDir(root string) string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	type candidate struct {
		major float64
		dir   string
	}
	var found []candidate
	for _, e := range entries {
		major, err := strconv.ParseFloat(e.Name(), 64) // "15", or "9.6" on old systems
		if err != nil {
			continue
		}
		dir := filepath.Join(root, e.Name(), "bin")
		if isExecutable(filepath.Join(dir, "initdb")) {
			found = append(found, candidate{major, dir})
		}
	}
	if len(found) == 0 {
		return ""
	}
	sort.Slice(found, func(i, j int) bool { return found[i].major > found[j].major })
	return found[0].dir
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
