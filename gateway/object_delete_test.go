package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// deleteRaceCallers are a role RLS never refuses and a user whose policies let her create
// and delete in her own folder; neither may ever be told a delete was refused for a row
// its delete did not see.
func deleteRaceCallers(t *testing.T, f *fixture, bucket string) []struct {
	name string
	c    Caller
	key  string
} {
	t.Helper()
	f.bucket(t, bucket)
	f.ownFolderPolicies(t, bucket, "select", "insert", "update", "delete")
	const alice = "6f0c1d7e-0000-4000-8000-00000000a11c"
	return []struct {
		name string
		c    Caller
		key  string
	}{
		{"service", service(), "race/key.txt"},
		{"rls-user", user(alice), alice + "/key.txt"},
	}
}

// TestDeleteWhileRecreated: a key created by another request between the caller's DELETE
// and the check for refused names is not a refusal (it was committed after the delete's
// snapshot): S3's report lists nothing refused and DeleteObject answers NoSuchKey. The
// hook creates the row from another connection at exactly that point.
func TestDeleteWhileRecreated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range deleteRaceCallers(t, f, "recreate") {
		t.Run(tc.name, func(t *testing.T) {
			for _, api := range []string{"DeleteObjectsReport", "DeleteObject"} {
				created := 0
				f.e.hooks.afterDelete = func() error {
					created++
					_, err := f.put(t, tc.c, "recreate", tc.key, []byte("again"), true)
					return err
				}
				var err error
				var refused []string
				if api == "DeleteObjectsReport" {
					var r DeleteReport
					r, err = f.e.DeleteObjectsReport(ctx, tc.c, "recreate", []string{tc.key})
					refused = r.Refused
				} else {
					_, err = f.e.DeleteObject(ctx, tc.c, "recreate", tc.key)
					if CodeOf(err) == CodeNoSuchKey {
						err = nil
					}
				}
				f.e.hooks.afterDelete = nil
				if created != 1 {
					t.Fatalf("%s: the hook ran %d times", api, created)
				}
				if err != nil || len(refused) > 0 {
					t.Fatalf("%s: refused %q, err %v", api, refused, err)
				}
				// The re-created object is there; a plain delete removes it.
				if _, err := f.e.DeleteObject(ctx, tc.c, "recreate", tc.key); err != nil {
					t.Fatalf("%s: deleting the re-created key: %v", api, err)
				}
			}
		})
	}
}

// TestDeleteRacesRecreate races deletes of one key against its re-creation: every delete
// either removes the key or finds it missing, never a refusal (the refusal check must not
// see a row committed after the delete ran), whichever of DeleteObject and DeleteObjects
// asks.
func TestDeleteRacesRecreate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const rounds = 200
	for _, tc := range deleteRaceCallers(t, f, "race") {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 2*rounds)
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := range rounds {
					if _, err := f.put(t, tc.c, "race", tc.key, []byte(fmt.Sprint(i)), true); err != nil {
						errs <- fmt.Errorf("put %d: %w", i, err)
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := range rounds {
					if i%2 == 0 {
						r, err := f.e.DeleteObjectsReport(ctx, tc.c, "race", []string{tc.key})
						if err != nil || len(r.Refused) > 0 {
							errs <- fmt.Errorf("DeleteObjects %d: refused %q, err %v", i, r.Refused, err)
						}
						continue
					}
					if _, err := f.e.DeleteObject(ctx, tc.c, "race", tc.key); err != nil && CodeOf(err) != CodeNoSuchKey {
						errs <- fmt.Errorf("DeleteObject %d: %w", i, err)
					}
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestDeleteRefusedUnderRLS: a caller who may see an existing object but not delete it
// is still told so (AccessDenied), by DeleteObject and in the DeleteObjects report, and
// the object stays.
func TestDeleteRefusedUnderRLS(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.bucket(t, "keep")
	if _, err := f.db.Pool().Exec(ctx, `create policy keep_read on storage.objects for select to authenticated using (bucket_id = 'keep')`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.put(t, service(), "keep", "doc.txt", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	reader := user("6f0c1d7e-0000-4000-8000-0000000000b0")
	_, err := f.e.DeleteObject(ctx, reader, "keep", "doc.txt")
	wantCode(t, err, CodeForbidden)
	r, err := f.e.DeleteObjectsReport(ctx, reader, "keep", []string{"doc.txt", "none.txt"})
	if err != nil || len(r.Deleted) != 0 || len(r.Refused) != 1 || r.Refused[0] != "doc.txt" {
		t.Fatalf("report %+v, %v", r, err)
	}
	if _, err := f.read(t, service(), "keep", "doc.txt"); err != nil {
		t.Fatal(err)
	}
	_, err = f.e.DeleteObject(ctx, reader, "nobucket", "doc.txt")
	wantCode(t, err, CodeNoSuchKey)
}

// TestDeleteAfterConcurrentOverwrite: an overwrite committed after the delete's snapshot
// was taken makes its DELETE a serialization failure; the delete runs again and removes
// the new version, reporting it once and scheduling only its bytes for removal. The run
// again holds the key's lock, so a further overwrite is ordered after the delete.
func TestDeleteAfterConcurrentOverwrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range deleteRaceCallers(t, f, "overwrite") {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.put(t, tc.c, "overwrite", tc.key, []byte("v1"), true); err != nil {
				t.Fatal(err)
			}
			runs := 0
			var v2 Object
			f.e.hooks.beforeDelete = func() error {
				runs++
				if runs > 1 {
					return nil
				}
				var err error
				v2, err = f.put(t, tc.c, "overwrite", tc.key, []byte("v2"), true)
				return err
			}
			r, err := f.e.DeleteObjectsReport(ctx, tc.c, "overwrite", []string{tc.key})
			f.e.hooks.beforeDelete = nil
			if err != nil || len(r.Refused) != 0 || len(r.Deleted) != 1 {
				t.Fatalf("report %+v, %v", r, err)
			}
			if runs != 2 {
				t.Fatalf("the delete ran %d times, want 2 (a retry after the serialization failure)", runs)
			}
			if r.Deleted[0].Version != v2.Version || r.Deleted[0].ETag != v2.ETag {
				t.Fatalf("deleted version %q, want the overwrite's %q", r.Deleted[0].Version, v2.Version)
			}
			if _, err := f.read(t, tc.c, "overwrite", tc.key); CodeOf(err) != CodeNoSuchKey {
				t.Fatalf("read after delete: %v", err)
			}
			if b := f.blobs(t); len(b) != 0 {
				t.Fatalf("blobs left: %q", b)
			}
			// Overwritten before the first run and again while the retry runs: the retry
			// holds the key's lock, so the second overwrite waits for the delete to commit
			// and lands after it instead of failing the delete again (a key written in a
			// tight loop would otherwise exhaust the retries).
			if _, err := f.put(t, tc.c, "overwrite", tc.key, []byte("v1"), true); err != nil {
				t.Fatal(err)
			}
			runs = 0
			later := make(chan error, 1)
			f.e.hooks.beforeDelete = func() error {
				runs++
				if runs > 1 {
					go func() {
						_, err := f.put(t, tc.c, "overwrite", tc.key, []byte("after"), true)
						later <- err
					}()
					return nil
				}
				_, err := f.put(t, tc.c, "overwrite", tc.key, []byte("v2"), true)
				return err
			}
			_, err = f.e.DeleteObject(ctx, tc.c, "overwrite", tc.key)
			f.e.hooks.beforeDelete = nil
			if err != nil || runs != 2 {
				t.Fatalf("delete after %d runs: %v; want success after 2", runs, err)
			}
			if err := <-later; err != nil {
				t.Fatalf("the overwrite that waited for the delete: %v", err)
			}
			if got, err := f.read(t, tc.c, "overwrite", tc.key); err != nil || string(got) != "after" {
				t.Fatalf("read after the delete: %q, %v; want the later overwrite", got, err)
			}
			if _, err := f.e.DeleteObject(ctx, tc.c, "overwrite", tc.key); err != nil {
				t.Fatal(err)
			}
		})
	}
}
