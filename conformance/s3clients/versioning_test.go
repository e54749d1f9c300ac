package s3clients

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testVersioning drives versioning with the real clients: aws cli turns versioning on,
// lists versions, reads an old version by id and restores it by copying it onto its key;
// a delete leaves a delete marker; rclone --s3-versions lists and copies the old versions.
func testVersioning(t *testing.T, e *env) {
	environ := awsEnv(t)
	dir := t.TempDir()
	const bucket = "versioned"
	e.aws(t, environ, "s3api", "create-bucket", "--bucket", bucket)
	e.aws(t, environ, "s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled")
	if out := e.aws(t, environ, "s3api", "get-bucket-versioning", "--bucket", bucket); !strings.Contains(out, `"Enabled"`) {
		t.Fatalf("get-bucket-versioning: %s", out)
	}
	var ids []string
	for i, body := range []string{"first version", "second version"} {
		f := filepath.Join(dir, "v"+string(rune('0'+i)))
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		var put struct{ VersionId string }
		if err := json.Unmarshal([]byte(e.aws(t, environ, "s3api", "put-object", "--bucket", bucket, "--key", "doc.txt", "--body", f)), &put); err != nil || put.VersionId == "" {
			t.Fatalf("put-object: %+v %v", put, err)
		}
		ids = append(ids, put.VersionId)
	}
	type listing struct {
		Versions []struct {
			Key, VersionId string
			IsLatest       bool
		}
		DeleteMarkers []struct {
			Key, VersionId string
			IsLatest       bool
		}
	}
	list := func(args ...string) listing {
		var l listing
		out := e.aws(t, environ, append([]string{"s3api", "list-object-versions", "--bucket", bucket}, args...)...)
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("list-object-versions: %v\n%s", err, out)
		}
		return l
	}
	l := list()
	if len(l.Versions) != 2 || l.Versions[0].VersionId != ids[1] || !l.Versions[0].IsLatest || l.Versions[1].VersionId != ids[0] {
		t.Fatalf("versions: %+v", l)
	}
	// The CLI pages with max-items/page-size through key and version id markers.
	if l := list("--page-size", "1"); len(l.Versions) != 2 {
		t.Fatalf("paged versions: %+v", l)
	}
	old := filepath.Join(dir, "old")
	e.aws(t, environ, "s3api", "get-object", "--bucket", bucket, "--key", "doc.txt", "--version-id", ids[0], old)
	if b, _ := os.ReadFile(old); string(b) != "first version" {
		t.Fatalf("get-object --version-id: %q", b)
	}
	// Delete: a marker on top; then restore the first version by copying it.
	e.aws(t, environ, "s3api", "delete-object", "--bucket", bucket, "--key", "doc.txt")
	l = list()
	if len(l.DeleteMarkers) != 1 || !l.DeleteMarkers[0].IsLatest || len(l.Versions) != 2 {
		t.Fatalf("after delete: %+v", l)
	}
	e.aws(t, environ, "s3api", "copy-object", "--bucket", bucket, "--key", "doc.txt", "--copy-source", bucket+"/doc.txt?versionId="+ids[0])
	cur := filepath.Join(dir, "cur")
	e.aws(t, environ, "s3api", "get-object", "--bucket", bucket, "--key", "doc.txt", cur)
	if b, _ := os.ReadFile(cur); string(b) != "first version" {
		t.Fatalf("restored: %q", b)
	}

	// rclone sees the old versions with --s3-versions and can copy them out.
	renv := rcloneEnv(t, e)
	out := run(t, renv, "rclone", "ls", "--s3-versions", "x:"+bucket)
	if n := strings.Count(out, "doc-v"); n != 2 {
		t.Fatalf("rclone --s3-versions lists %d old versions:\n%s", n, out)
	}
	down := filepath.Join(dir, "down")
	run(t, renv, "rclone", "copy", "--s3-versions", "x:"+bucket, down)
	entries, _ := os.ReadDir(down)
	bodies := map[string]bool{}
	for _, en := range entries {
		b, _ := os.ReadFile(filepath.Join(down, en.Name()))
		bodies[string(b)] = true
	}
	if len(entries) != 3 || !bodies["first version"] || !bodies["second version"] {
		t.Fatalf("rclone copy --s3-versions: %d files %v", len(entries), bodies)
	}

	// Clean up every version so that the bucket can go.
	l = list()
	for _, v := range l.Versions {
		e.aws(t, environ, "s3api", "delete-object", "--bucket", bucket, "--key", v.Key, "--version-id", v.VersionId)
	}
	for _, v := range l.DeleteMarkers {
		e.aws(t, environ, "s3api", "delete-object", "--bucket", bucket, "--key", v.Key, "--version-id", v.VersionId)
	}
	e.aws(t, environ, "s3api", "delete-bucket", "--bucket", bucket)
}
