package s3clients

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func rcloneEnv(t *testing.T, e *env) []string {
	t.Helper()
	id, secret := e.keys()
	return toolEnv(t, "RCLONE_CONFIG="+filepath.Join(t.TempDir(), "rclone.conf"),
		"RCLONE_CONFIG_X_TYPE=s3", "RCLONE_CONFIG_X_PROVIDER=Other", "RCLONE_CONFIG_X_ENV_AUTH=false",
		"RCLONE_CONFIG_X_ACCESS_KEY_ID="+id, "RCLONE_CONFIG_X_SECRET_ACCESS_KEY="+secret,
		"RCLONE_CONFIG_X_ENDPOINT="+e.endpoint, "RCLONE_CONFIG_X_REGION="+region, "RCLONE_CONFIG_X_FORCE_PATH_STYLE=true")
}

func testRclone(t *testing.T, e *env) {
	environ := rcloneEnv(t, e)
	dir := t.TempDir()
	up := filepath.Join(dir, "up")
	writeTree(t, up, 60)
	run(t, environ, "rclone", "mkdir", "x:rclone")
	run(t, environ, "rclone", "copy", up, "x:rclone/tree")
	run(t, environ, "rclone", "check", up, "x:rclone/tree")
	down := filepath.Join(dir, "down")
	run(t, environ, "rclone", "copy", "x:rclone/tree", down)
	sameTree(t, up, down)

	// sync with deletions: remove local files, sync, and the bucket follows.
	for _, name := range []string{"f001.bin", "f002.bin", "sub0/f000.bin"} {
		if err := os.Remove(filepath.Join(up, name)); err != nil {
			t.Fatal(err)
		}
	}
	run(t, environ, "rclone", "sync", up, "x:rclone/tree")
	run(t, environ, "rclone", "check", up, "x:rclone/tree")
	down2 := filepath.Join(dir, "down2")
	run(t, environ, "rclone", "copy", "x:rclone/tree", down2)
	sameTree(t, up, down2)

	run(t, environ, "rclone", "purge", "x:rclone")
	if out := run(t, environ, "rclone", "lsd", "x:"); strings.Contains(out, " rclone\n") {
		t.Fatalf("bucket still listed after purge:\n%s", out)
	}
}
