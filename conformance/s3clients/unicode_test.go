package s3clients

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unicodeNames are file names in several scripts plus the punctuation S3 accepts; every
// client must round-trip them byte-exact.
var unicodeNames = []string{
	"café/naïve résumé.txt",
	"日本語/ファイル.txt",
	"Screenshot 2024-01-01 at 10.00.00\u202fAM.png",
	`100%_[a]{b}^~"q"<x>|y\z#.txt`,
	"Ελληνικά/αρχείο.txt",
	"Русский/файл.txt",
	"العربية/ملف.txt",
	"한국어/파일.txt",
	"emoji 😀/🎉.txt",
	"q?uery&x=1;y+z.txt",
}

// writeUnicodeTree writes unicodeNames below dir, each holding its own name.
func writeUnicodeTree(t *testing.T, dir string) {
	t.Helper()
	for _, n := range unicodeNames {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("bytes of "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sortedNames(prefix string) []string {
	out := make([]string, len(unicodeNames))
	for i, n := range unicodeNames {
		out[i] = prefix + n
	}
	slices.Sort(out)
	return out
}

// testAWSCLIUnicode: aws s3 sync up and down, and s3api listings (the CLI asks for
// EncodingType=url and decodes), keep every name byte-exact.
func testAWSCLIUnicode(t *testing.T, e *env) {
	environ := awsEnv(t)
	dir := t.TempDir()
	up := filepath.Join(dir, "up")
	writeUnicodeTree(t, up)
	e.aws(t, environ, "s3", "mb", "s3://awscli-u")
	e.aws(t, environ, "s3", "sync", up, "s3://awscli-u/tree")
	down := filepath.Join(dir, "down")
	e.aws(t, environ, "s3", "sync", "s3://awscli-u/tree", down)
	sameTree(t, up, down)
	if out := e.aws(t, environ, "s3", "sync", up, "s3://awscli-u/tree"); strings.Contains(out, "upload:") {
		t.Fatalf("second sync uploaded again:\n%s", out)
	}
	for _, api := range []string{"list-objects-v2", "list-objects"} {
		var res struct{ Contents []struct{ Key string } }
		if err := json.Unmarshal([]byte(e.aws(t, environ, "s3api", api, "--bucket", "awscli-u", "--output", "json")), &res); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, c := range res.Contents {
			keys = append(keys, c.Key)
		}
		if want := sortedNames("tree/"); !slices.Equal(keys, want) {
			t.Fatalf("%s keys\n got %q\nwant %q", api, keys, want)
		}
	}
	k := "tree/" + unicodeNames[3]
	e.aws(t, environ, "s3api", "copy-object", "--bucket", "awscli-u", "--key", "copy/"+unicodeNames[3],
		"--copy-source", "awscli-u/"+k)
	got := filepath.Join(dir, "copied")
	e.aws(t, environ, "s3", "cp", "s3://awscli-u/copy/"+unicodeNames[3], got)
	sameFile(t, filepath.Join(up, unicodeNames[3]), got)
	e.aws(t, environ, "s3", "rb", "--force", "s3://awscli-u")
}

// testRcloneUnicode: rclone copy, check and copy back keep every name. The remote's
// encoding is rclone's S3 default (Slash,InvalidUtf8,Dot), set explicitly: it rewrites
// only "/" inside a file name, invalid UTF-8 and "."/".." names, none of which these are,
// so every name goes upstream as-is (None would also send "." and "..", which are InvalidKey).
func testRcloneUnicode(t *testing.T, e *env) {
	environ := append(rcloneEnv(t, e), "RCLONE_CONFIG_X_ENCODING=Slash,InvalidUtf8,Dot")
	dir := t.TempDir()
	up := filepath.Join(dir, "up")
	writeUnicodeTree(t, up)
	run(t, environ, "rclone", "mkdir", "x:rclone-u")
	run(t, environ, "rclone", "copy", up, "x:rclone-u/tree")
	run(t, environ, "rclone", "check", up, "x:rclone-u/tree")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(run(t, environ, "rclone", "lsf", "-R", "--files-only", "x:rclone-u/tree")), "\n") {
		if !strings.Contains(l, " NOTICE: ") { // run mixes in rclone's stderr
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	if want := sortedNames(""); !slices.Equal(lines, want) {
		t.Fatalf("lsf\n got %q\nwant %q", lines, want)
	}
	down := filepath.Join(dir, "down")
	run(t, environ, "rclone", "copy", "x:rclone-u/tree", down)
	sameTree(t, up, down)
	run(t, environ, "rclone", "purge", "x:rclone-u")
}
