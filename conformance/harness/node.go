package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// CallerDir is the folder of the Go file that calls it (where a suite keeps script.mjs and
// its node_modules).
func CallerDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(1)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Dir(file)
}

// NodeModules installs a suite's locked npm packages when pkg (e.g. "tus-js-client") is not
// in dir/node_modules yet: plain `go test` works too, scripts/test.sh runs npm ci before.
func NodeModules(t testing.TB, dir, pkg string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err == nil {
		return
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}
