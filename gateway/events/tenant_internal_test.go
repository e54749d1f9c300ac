package events

import (
	"encoding/json"
	"reflect"
	"testing"
)

var tenantBodies = []string{
	// As the outbox's jsonb column prints what the engine writes.
	`{"type": "ObjectCreated:Put", "region": "us-east-1", "payload": {"name": "a/b.txt", "tenant": {"ref": "stub", "host": ""}, "bucketId": "b"}, "$version": "v1", "applyTime": 1764800000000}`,
	`{"payload": {"tenant": {"ref": "abcdefghijklmnop", "host": "abcdefghijklmnop.supabase.co"}}}`,
	`{"payload": {"tenant": {"ref": "caf\u00e9", "host": "h\"q"}}}`,
	`{"payload": {"tenant": {"ref": "é", "host": "tab\there"}}}`,
	`{"payload": {"tenant": {"ref": 1}}}`,
	`{"payload": {"tenant": null}}`,
	`{"payload": {"tenant": "x"}}`,
	`{"payload": {"tenant": {}}}`,
	`{"payload": {}}`,
	`{"Payload": {"TENANT": {"ref": "upper"}}}`,
	`{"payload": {"tenant": {"ref": "first"}}, "payload": {"tenant": {"ref": "last"}}}`,
	`{}`,
	`not json`,
}

// TestEventTenant holds the fast tenant extraction to encoding/json's result.
func TestEventTenant(t *testing.T) {
	for _, body := range tenantBodies {
		checkTenant(t, body)
	}
	if got := string(eventTenant([]byte(tenantBodies[0]))); got != `{"ref":"stub","host":""}` {
		t.Errorf("tenant of the engine's body: %s", got)
	}
}

func FuzzEventTenant(f *testing.F) {
	for _, body := range tenantBodies {
		f.Add(body)
	}
	f.Fuzz(checkTenant)
}

func checkTenant(t *testing.T, body string) {
	fast, std := eventTenant([]byte(body)), eventTenantStd([]byte(body))
	var a, b any
	errA, errB := json.Unmarshal(fast, &a), json.Unmarshal(std, &b)
	if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
		t.Errorf("body %q: fast %s (%v), encoding/json %s (%v)", body, fast, errA, std, errB)
	}
}

// BenchmarkEventTenant reads the tenant of a body as the outbox prints it, with fastjson
// (fast) and encoding/json (std).
func BenchmarkEventTenant(b *testing.B) {
	body := []byte(`{"type": "ObjectCreated:Post", "region": "us-east-1", "payload": {"name": "k/000123", "reqId": "9f1c2d3e-aaaa-bbbb-cccc-0123456789ab", "tenant": {"ref": "stub", "host": ""}, "version": "0b5e5a3c-8a4c-4d52-9d1e-3f0c2e9d5b11", "bucketId": "bench", "metadata": {"eTag": "\"d41d8cd98f00b204e9800998ecf8427e\"", "size": 4096, "mimetype": "application/octet-stream", "cacheControl": "no-cache", "lastModified": "2026-12-03T22:00:00.000Z", "contentLength": 4096, "httpStatusCode": 200}, "uploadType": "s3"}, "$version": "v1", "applyTime": 1764800000000}`)
	for name, f := range map[string]func([]byte) []byte{"fast": eventTenant, "std": eventTenantStd} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f(body)
			}
		})
	}
}
