package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stowage/stowage/conformance/harness"
)

type orphanEntry struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Version string `json:"version"`
}

// orphanStream is a parsed NDJSON answer of the orphan-object routes.
type orphanStream struct {
	s3, db []orphanEntry
	errors []string
}

// orphans sends an orphan-object request and parses its NDJSON lines.
func (e *env) orphans(t *testing.T, method, bucket, query, body string) orphanStream {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.admin+"/tenants/"+tenantID+"/buckets/"+bucket+"/orphan-objects"+query, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", apiKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson; charset=utf-8" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %q %s", method, bucket, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var out orphanStream
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Type  string          `json:"type"`
			Value []orphanEntry   `json:"value"`
			Event string          `json:"event"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		switch {
		case l.Event == "ping":
		case l.Event == "error":
			out.errors = append(out.errors, string(l.Error))
		case l.Event == "data" && l.Type == "s3Orphans" && len(l.Value) > 0:
			out.s3 = append(out.s3, l.Value...)
		case l.Event == "data" && l.Type == "dbOrphans" && len(l.Value) > 0:
			out.db = append(out.db, l.Value...)
		default:
			t.Fatalf("unexpected line %q", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out.errors) > 0 {
		t.Fatalf("%s: error events %q", method, out.errors)
	}
	return out
}

// storedFile finds the file holding bucket/name's bytes in the server's file store.
func storedFile(t *testing.T, root, bucket, name string) string {
	t.Helper()
	var found string
	want := string(filepath.Separator) + filepath.Join(tenantID, bucket, name) + string(filepath.Separator)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, want) {
			found = p
		}
		return err
	})
	if err != nil || found == "" {
		t.Fatalf("no stored file for %s/%s under %s: %v", bucket, name, root, err)
	}
	return found
}

func plant(t *testing.T, path, content string, age time.Duration) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestOrphanObjects plants bytes no row names (one old, one young) and a row whose bytes
// are gone next to a live object: GET lists them in the reference's NDJSON format, `before`
// moves the age cut, DELETE with deleteS3Keys removes only the old orphan bytes, and the
// live object still reads back.
func TestOrphanObjects(t *testing.T) {
	// Every object in a file, as the reference keeps them: the test removes one's file.
	e := startWith(t, "file", map[string]string{"STOWAGE_INLINE_MAX_BYTES": "0"})
	ctx := context.Background()
	service := e.s3(harness.S3AccessKeyID, harness.S3Secret)
	if _, err := service.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("orph")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"live.txt", "dir/lost.txt"} {
		if _, err := service.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("orph"), Key: aws.String(k), Body: strings.NewReader("bytes of " + k)}); err != nil {
			t.Fatal(err)
		}
	}
	live := storedFile(t, e.srv.DataDir, "orph", "live.txt")
	bucketDir := filepath.Dir(filepath.Dir(live))
	lost := storedFile(t, e.srv.DataDir, "orph", "dir/lost.txt")
	if err := os.Remove(lost); err != nil {
		t.Fatal(err)
	}
	const oldV, youngV = "2b1c5c8e-0000-4000-8000-000000000001", "2b1c5c8e-0000-4000-8000-000000000002"
	oldOrphan := filepath.Join(bucketDir, "ghost", "old.bin", oldV)
	youngOrphan := filepath.Join(bucketDir, "young.bin", youngV)
	plant(t, oldOrphan, "old orphan bytes", 48*time.Hour)
	plant(t, youngOrphan, "young", 0)

	wantOld := orphanEntry{Name: "ghost/old.bin", Size: int64(len("old orphan bytes")), Version: oldV}
	wantLost := orphanEntry{Name: "dir/lost.txt", Version: filepath.Base(lost)}

	got := e.orphans(t, "GET", "orph", "", "")
	if !slices.Equal(got.s3, []orphanEntry{wantOld}) || !slices.Equal(got.db, []orphanEntry{wantLost}) {
		t.Fatalf("GET: s3Orphans %+v dbOrphans %+v, want [%+v] [%+v]", got.s3, got.db, wantOld, wantLost)
	}

	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	got = e.orphans(t, "GET", "orph", "?before="+future, "")
	if len(got.s3) != 2 || !slices.Contains(got.s3, wantOld) || !slices.Contains(got.s3, orphanEntry{Name: "young.bin", Size: 5, Version: youngV}) {
		t.Fatalf("GET before=%s: s3Orphans %+v, want the old and the young orphan", future, got.s3)
	}

	// deleteDbKeys reports the rows without bytes; they stay (docs/compatibility.md).
	got = e.orphans(t, "DELETE", "orph", "", `{"deleteDbKeys":true}`)
	if len(got.s3) != 0 || !slices.Equal(got.db, []orphanEntry{wantLost}) {
		t.Fatalf("DELETE deleteDbKeys: s3Orphans %+v dbOrphans %+v", got.s3, got.db)
	}
	if _, err := os.Stat(oldOrphan); err != nil {
		t.Fatalf("deleteDbKeys alone touched orphan bytes: %v", err)
	}

	got = e.orphans(t, "DELETE", "orph", "", `{"deleteS3Keys":true}`)
	if !slices.Equal(got.s3, []orphanEntry{wantOld}) || len(got.db) != 0 {
		t.Fatalf("DELETE deleteS3Keys: s3Orphans %+v dbOrphans %+v, want [%+v] []", got.s3, got.db, wantOld)
	}
	if _, err := os.Stat(oldOrphan); !os.IsNotExist(err) {
		t.Fatalf("old orphan after DELETE: %v", err)
	}
	if _, err := os.Stat(youngOrphan); err != nil {
		t.Fatalf("young orphan (after `before`) removed: %v", err)
	}
	obj, err := service.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("orph"), Key: aws.String("live.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "bytes of live.txt" {
		t.Fatalf("live object reads %q after the sync", b)
	}

	got = e.orphans(t, "GET", "orph", "", "")
	if len(got.s3) != 0 || !slices.Equal(got.db, []orphanEntry{wantLost}) {
		t.Fatalf("GET after the sync: s3Orphans %+v dbOrphans %+v", got.s3, got.db)
	}
}

// TestOrphanObjectsS3 runs the routes on the s3 backend (MinIO): an orphan planted in the
// upstream bucket and an object whose upstream key was deleted are listed; DELETE with
// deleteS3Keys (before = in an hour, since MinIO dates what it stores now) removes the
// orphan and leaves the live object.
func TestOrphanObjectsS3(t *testing.T) {
	e := startOn(t, "s3")
	ctx := context.Background()
	up, upBucket := e.srv.MinIO.Client(), e.srv.MinIO.Bucket
	service := e.s3(harness.S3AccessKeyID, harness.S3Secret)
	if _, err := service.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("orph")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"live.txt", "lost.txt"} {
		if _, err := service.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("orph"), Key: aws.String(k), Body: strings.NewReader("bytes of " + k)}); err != nil {
			t.Fatal(err)
		}
	}
	upstreamKey := func(name string) string {
		t.Helper()
		l, err := up.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(upBucket), Prefix: aws.String(tenantID + "/orph/" + name + "/")})
		if err != nil || len(l.Contents) != 1 {
			t.Fatalf("upstream keys of %s: %v %d", name, err, len(l.Contents))
		}
		return aws.ToString(l.Contents[0].Key)
	}
	lost := upstreamKey("lost.txt")
	if _, err := up.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(upBucket), Key: aws.String(lost)}); err != nil {
		t.Fatal(err)
	}
	const v = "2b1c5c8e-0000-4000-8000-000000000003"
	orphan := tenantID + "/orph/ghost.bin/" + v
	if _, err := up.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(upBucket), Key: aws.String(orphan), Body: strings.NewReader("orphan")}); err != nil {
		t.Fatal(err)
	}
	wantOrphan := orphanEntry{Name: "ghost.bin", Size: 6, Version: v}
	wantLost := orphanEntry{Name: "lost.txt", Version: lost[strings.LastIndexByte(lost, '/')+1:]}

	// The orphan is younger than the default `before` (an hour ago): not listed.
	got := e.orphans(t, "GET", "orph", "", "")
	if len(got.s3) != 0 || !slices.Equal(got.db, []orphanEntry{wantLost}) {
		t.Fatalf("GET: s3Orphans %+v dbOrphans %+v, want [] [%+v]", got.s3, got.db, wantLost)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	got = e.orphans(t, "GET", "orph", "?before="+future, "")
	if !slices.Equal(got.s3, []orphanEntry{wantOrphan}) {
		t.Fatalf("GET before=%s: s3Orphans %+v, want [%+v]", future, got.s3, wantOrphan)
	}
	got = e.orphans(t, "DELETE", "orph", "", `{"deleteS3Keys":true,"before":"`+future+`"}`)
	if !slices.Equal(got.s3, []orphanEntry{wantOrphan}) || len(got.db) != 0 {
		t.Fatalf("DELETE: s3Orphans %+v dbOrphans %+v", got.s3, got.db)
	}
	if _, err := up.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(upBucket), Key: aws.String(orphan)}); err == nil {
		t.Fatal("the orphan is still upstream after DELETE")
	}
	upstreamKey("live.txt")
	obj, err := service.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("orph"), Key: aws.String("live.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "bytes of live.txt" {
		t.Fatalf("live object reads %q after the sync", b)
	}
}
