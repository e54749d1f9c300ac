// Package multitenant runs minio-go's functional suite (conformance/miniogo) against a tenant
// of a multi-tenant Stowage: the same cases, the same scope and the same accounting as the
// single-tenant run (a case in scope that passes on MinIO must pass on the tenant). It is a
// package of its own so that its minutes do not add to conformance/miniogo's under CI's
// per-package time guard.
package multitenant

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/conformance/miniogo"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// ReportEnv names a file the measured table is written to (markdown).
const ReportEnv = "STOWAGE_MINIOGO_MT_REPORT"

// TestFunctionalMultiTenant runs the suite against MinIO and against a tenant of a
// multi-tenant Stowage on the file backend (harness.Options.MultiTenant: the tenant created
// through the admin API, its admin-created S3 credentials, S3 at the root of S3_PORT behind
// the harness's proxy that names the tenant in X-Forwarded-Host). Tenant routing does not
// depend on the byte store; the single-tenant run covers both backends.
func TestFunctionalMultiTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("the minio-go functional suite takes many minutes")
	}
	miniogo.BuildSuite(t)
	m := miniotest.Start(t)
	srv := harness.Start(t, harness.Options{Backend: "file", MultiTenant: true,
		Env: map[string]string{"S3_PORT": strconv.Itoa(harness.FreePort(t)), "STORAGE_S3_REGION": "us-east-1"}})
	// A tenant created without fileSizeLimit gets the reference's column default (50 MB);
	// the single-tenant run has the server's (50 GB), and some cases upload 129 MiB.
	body := `{"fileSizeLimit":53687091200}`
	harness.MustStatus(t, harness.Do(t, "PATCH", fmt.Sprintf("http://127.0.0.1:%d/tenants/%s", srv.AdminPort, harness.MultiTenantID),
		"", strings.NewReader(body), int64(len(body)), map[string]string{"apikey": harness.AdminAPIKey, "Content-Type": "application/json"}), 204)
	miniogo.Run(t, []miniogo.Target{
		{Name: "minio", Endpoint: strings.TrimPrefix(m.Endpoint, "http://"), AccessKey: m.AccessKey, Secret: m.Secret},
		{Name: "stowage-tenant-file", Endpoint: "127.0.0.1:" + strconv.Itoa(srv.S3Port),
			AccessKey: srv.S3AccessKeyID, Secret: srv.S3Secret},
	}, ReportEnv)
}
