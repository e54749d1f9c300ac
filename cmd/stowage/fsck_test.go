package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stowage/stowage/db/pgtest"
)

// TestFsckCommand runs `stowage fsck` on a file store holding one planted orphan: the JSON
// report names it (exit 3, findings remain), --fix removes it (exit 0), and a text run
// afterwards finds nothing.
func TestFsckCommand(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	env := map[string]string{
		"DATABASE_URL":              pgtest.URL(t),
		"AUTH_JWT_SECRET":           "fsck-test-secret-fsck-test-secret-0123",
		"STORAGE_BACKEND":           "file",
		"STORAGE_FILE_BACKEND_PATH": root,
		"STORAGE_S3_BUCKET":         "stub",
		"LOG_LEVEL":                 "error",
	}
	getenv := func(k string) string { return env[k] }
	orphan := filepath.Join(root, "stub", "storage-single-tenant", "b", "ghost", "2b1c5c8e-0000-4000-8000-000000000001")
	if err := os.MkdirAll(filepath.Dir(orphan), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, []byte("orphan"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(orphan, old, old); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"fsck", "--json"}, getenv, &stdout, &stderr); code != fsckFindings {
		t.Fatalf("fsck --json: exit %d, want %d\n%s%s", code, fsckFindings, stdout.String(), stderr.String())
	}
	var kinds []string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var l struct {
			Type, Kind, Key string
			Report          *struct{ Done bool } `json:"report"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		switch l.Type {
		case "finding":
			kinds = append(kinds, l.Kind+" "+l.Key)
		case "summary":
			if l.Report == nil || !l.Report.Done {
				t.Errorf("summary %q: not done", sc.Text())
			}
		}
	}
	want := "orphan_bytes storage-single-tenant/b/ghost/2b1c5c8e-0000-4000-8000-000000000001"
	if len(kinds) != 1 || kinds[0] != want {
		t.Fatalf("findings %q, want [%q]", kinds, want)
	}

	stdout.Reset()
	if code := run([]string{"fsck", "--fix"}, getenv, &stdout, &stderr); code != fsckClean {
		t.Fatalf("fsck --fix: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "removed") {
		t.Errorf("fsck --fix output does not say removed:\n%s", stdout.String())
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan after --fix: %v", err)
	}
	stdout.Reset()
	if code := run([]string{"fsck", "--bucket", "b"}, getenv, &stdout, &stderr); code != fsckClean {
		t.Fatalf("fsck after --fix: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"fsck", "--grace", "-1s"}, getenv, &stdout, &stderr); code != fsckUsage {
		t.Fatalf("fsck --grace -1s: exit %d, want %d", code, fsckUsage)
	}
}
