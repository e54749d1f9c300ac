// Package storagejs runs the real storage-js client (script.mjs, from the committed
// package-lock.json) against the real stowage binary.
package storagejs

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const userID = "5d6a3c1e-2f4b-4e8a-9c7d-0b1a2c3d4e5f"

// TestStorageJS runs the script once per backend (harness.Backends), each on a fresh database.
func TestStorageJS(t *testing.T) {
	d := harness.CallerDir(t)
	harness.NodeModules(t, d, "@supabase/storage-js")
	harness.ForEachBackend(t, func(t *testing.T, backend string) { storageJS(t, d, backend) })
}

// TestStorageJSMultiTenant runs the same script against a tenant of a multi-tenant Stowage
// (harness.Options.MultiTenant), on the file backend.
func TestStorageJSMultiTenant(t *testing.T) {
	d := harness.CallerDir(t)
	harness.NodeModules(t, d, "@supabase/storage-js")
	storageJSWith(t, d, harness.Options{Backend: "file", MultiTenant: true})
}

func storageJS(t *testing.T, d, backend string) {
	storageJSWith(t, d, harness.Options{Backend: backend})
}

func storageJSWith(t *testing.T, d string, opts harness.Options) {
	url := pgtest.URL(t)
	opts.DatabaseURL = url
	srv := harness.Start(t, opts)

	// The policy of the RLS part: a signed-in user reads and writes only under a folder
	// named after their uid in bucket "rls"; anon has no policy.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`create policy sjs_read on storage.objects for select to authenticated
			using (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.uid()::text)`,
		`create policy sjs_write on storage.objects for insert to authenticated
			with check (bucket_id = 'rls' and (storage.foldername(name))[1] = auth.uid()::text)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "script.mjs")
	cmd.Dir = d
	cmd.Env = append(os.Environ(),
		"STORAGE_URL="+srv.URL+"/storage/v1",
		"SERVICE_KEY="+srv.ServiceKey,
		"ANON_KEY="+srv.AnonKey,
		"USER_KEY="+srv.UserKey(t, userID),
		"USER_ID="+userID,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("storage-js script failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "storage-js conformance: all checks passed") {
		t.Fatal("storage-js script exited 0 without reaching its last check")
	}
}
