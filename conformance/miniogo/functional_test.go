// Package miniogo's TestFunctional: minio-go's functional suite against MinIO and against
// single-tenant Stowage on each backend (miniogo.go).
package miniogo

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stowage/stowage/conformance/harness"
	"github.com/stowage/stowage/db/pgtest"
	"github.com/stowage/stowage/gateway/backend/s3backend/miniotest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestFunctional(t *testing.T) {
	if testing.Short() {
		t.Skip("the minio-go functional suite takes many minutes")
	}
	BuildSuite(t)
	m := miniotest.Start(t)
	targets := []Target{{Name: "minio", Endpoint: strings.TrimPrefix(m.Endpoint, "http://"), AccessKey: m.AccessKey, Secret: m.Secret}}
	for _, backend := range harness.Backends() {
		s3Port := harness.FreePort(t)
		harness.Start(t, harness.Options{Backend: backend, MinIO: m,
			Env: map[string]string{"S3_PORT": strconv.Itoa(s3Port), "STORAGE_S3_REGION": "us-east-1"}})
		targets = append(targets, Target{Name: "stowage-" + backend, Endpoint: "127.0.0.1:" + strconv.Itoa(s3Port),
			AccessKey: harness.S3AccessKeyID, Secret: harness.S3Secret})
	}
	Run(t, targets, ReportEnv)
}
