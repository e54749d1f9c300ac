// Package miniogo runs minio-go's public functional test suite (functional_tests.go, the
// suite MinIO's mint runs) against Stowage and against MinIO on the same machine, and fails
// when a case MinIO passes, and that is in Stowage's scope, does not pass on Stowage.
//
// TestFunctional (this package) runs it against single-tenant servers on each backend;
// conformance/miniogo/multitenant runs it against a tenant of a multi-tenant server, in a
// package of its own so that neither test binary nears CI's per-package time guard.
package miniogo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// ReportEnv names a file the measured table is written to (markdown), for docs/s3-conformance.md.
const ReportEnv = "STOWAGE_MINIOGO_REPORT"

// CasesEnv names a comma-separated list of case names to run instead of every case (to
// iterate on a few cases; the table then shows the others as not run).
const CasesEnv = "STOWAGE_MINIOGO_CASES"

// caseTimeout is a hang guard for one case (one process); the slowest cases upload 129 MiB
// or compose 10000 sources and take a few minutes on a loaded machine.
const caseTimeout = 20 * time.Minute

// notInScope are the cases Stowage does not try to pass, with the reason. A case listed
// here runs anyway and its outcome is reported; it is only exempt from the comparison.
var notInScope = map[string]string{
	// Features Stowage does not have, by design.
	"testRemoveMultipleObjectsWithResult()": "Object Lock (retention is 501 NotImplemented)",
	"testRemoveObjects()":                   "Object Lock (retention is 501 NotImplemented)",
	"testFunctional()":                      "bucket policies: access is RLS plus the bucket's public flag (PutBucketPolicy is 501, which stops the case)",
	"testFunctionalV2()":                    "bucket policies: access is RLS plus the bucket's public flag (PutBucketPolicy is 501, which stops the case)",
	"testCorsSetGetDelete()":                "bucket CORS configuration: Stowage answers CORS from its own settings (501 NotImplemented)",
	"testCors()":                            "bucket CORS configuration (501 NotImplemented)",
	"testBucketNotification()":              "MinIO's notification targets (ARNs of MinIO's own queues)",
	"testGetObjectS3Zip()":                  "MinIO's extension: reading inside a zip with x-minio-extract",
	"testGetObjectACLContext()":             "per-object ACLs: x-amz-acl public-read-write is 501 NotImplemented (an object has its bucket's access)",
	"testListObjects()":                     "storage classes: Stowage has one, objects list as STANDARD (the case stores REDUCED_REDUNDANCY and reads it back)",
	// Cases that assert MinIO's answer where Stowage gives S3's or the reference's.
	"testListMultipartUpload()":          "asserts MinIO's ListMultipartUploads without StorageClass; S3 (and Stowage) send STANDARD",
	"testPresignedPostPolicy()":          "asserts 204 for a PostObject without success_action_status (S3's default); Stowage keeps the reference's 200 (spec s3-api)",
	"testPresignedPostPolicyWrongFile()": "asserts MinIO's wording of the policy error (\"Policy Condition failed: [eq, $x-amz-checksum-crc32c, …\"); Stowage refuses the same form with 403 AccessDenied",
}

// groupReason is why the cases main runs only over TLS or with a KMS are not run at all.
var groupReason = map[string]string{
	"tls": "SSE-C: server-side encryption is out of scope (and the suite runs it only over TLS)",
	"kms": "SSE-S3/SSE-KMS: server-side encryption is out of scope (needs a KMS)",
}

// outcome is what one case logged on one server.
type outcome struct {
	Pass, Fail, NA int
	Exit           string // "" for a clean exit, else how the process ended
	FirstError     string
}

// Status is PASS, FAIL or NA (NotImplemented answers only).
func (o outcome) Status() string {
	switch {
	case o.Fail > 0 || o.Exit != "" || o.Pass+o.NA == 0:
		return "FAIL"
	case o.NA > 0:
		return "NA"
	}
	return "PASS"
}

// Target is one server under test.
type Target struct {
	Name              string
	Endpoint          string // host:port of an S3 root
	AccessKey, Secret string
}

// BuildSuite builds the suite's runner (minutes when cold) before a test starts its servers.
func BuildSuite(t *testing.T) { buildSuite(t) }

// Run runs the suite's cases (all of them, or those CasesEnv names) against every target
// at once, each target's cases one after the other, logs the table (written to the file
// reportEnv names, when set) and fails when a case in scope passes on targets[0] (MinIO)
// but not on another target. A minio-go test package calls it with its own targets.
func Run(t *testing.T, targets []Target, reportEnv string) {
	t.Helper()
	s := buildSuite(t)
	only := map[string]bool{}
	for _, n := range strings.Split(os.Getenv(CasesEnv), ",") {
		if n = strings.TrimSpace(n); n != "" {
			only[n] = true
		}
	}
	var run []mintCase
	for _, c := range s.cases {
		if c.Group == "" && (len(only) == 0 || only[c.Name]) {
			run = append(run, c)
		}
	}
	for name := range notInScope {
		if !hasCase(s.cases, name) {
			t.Errorf("notInScope names %s, which minio-go %s does not run", name, minioGoVersion)
		}
	}

	results := make([]map[string]outcome, len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runTarget(t, s.bin, tg, run)
		}()
	}
	wg.Wait()

	report := renderReport(s.cases, targets, results)
	t.Log("\n" + report)
	if path := os.Getenv(reportEnv); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
	for i := 1; i < len(targets); i++ {
		for _, c := range run {
			if _, skip := notInScope[c.Name]; skip {
				continue
			}
			mo, so := results[0][c.Name], results[i][c.Name]
			if mo.Status() == "PASS" && so.Status() != "PASS" {
				t.Errorf("%s: %s passes on MinIO but is %s on %s: %s", c.Name, c.Name, so.Status(), targets[i].Name, so.FirstError)
			}
		}
	}
}

func hasCase(cases []mintCase, name string) bool {
	for _, c := range cases {
		if c.Name == name {
			return true
		}
	}
	return false
}

// runTarget runs every case against tg, one process each, one after the other (the cases
// share nothing but the server; they create and remove their own buckets).
func runTarget(t *testing.T, bin string, tg Target, cases []mintCase) map[string]outcome {
	out := map[string]outcome{}
	for _, c := range cases {
		o := runCase(bin, tg, c.Name)
		out[c.Name] = o
		t.Logf("%s %s: %s (pass %d, fail %d, na %d) %s", tg.Name, c.Name, o.Status(), o.Pass, o.Fail, o.NA, o.FirstError)
	}
	return out
}

func runCase(bin string, tg Target, name string) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, name)
	cmd.Dir = os.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"SERVER_ENDPOINT=" + tg.Endpoint, "ACCESS_KEY=" + tg.AccessKey, "SECRET_KEY=" + tg.Secret,
		"ENABLE_HTTPS=0", "ENABLE_KMS=0", "MINT_MODE=full"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var o outcome
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct {
			Status, Function, Message, Error, Alert string
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Status {
		case "PASS":
			o.Pass++
		case "NA":
			o.NA++
		case "FAIL":
			o.Fail++
			if o.FirstError == "" {
				o.FirstError = oneLine(line.Function + ": " + line.Message + ": " + line.Error)
			}
		}
	}
	if err != nil {
		o.Exit = err.Error()
		if ctx.Err() != nil {
			o.Exit = "hung: killed after " + caseTimeout.String()
		}
		if o.FirstError == "" {
			o.FirstError = oneLine(o.Exit + ": " + lastLines(stderr.String(), 5))
		}
	}
	return o
}

// oneLine keeps a message on one line of at most 500 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// renderReport is the markdown table of every case: its status per target with the number
// of PASS/FAIL/NA lines it logged and, for cases not compared, why; then the totals, over
// every case run and over the cases in scope.
func renderReport(cases []mintCase, targets []Target, results []map[string]outcome) string {
	var b strings.Builder
	type tally struct{ all, scope map[string]int }
	counts := make([]tally, len(targets))
	for i := range counts {
		counts[i] = tally{map[string]int{}, map[string]int{}}
	}
	b.WriteString("| case |")
	for _, tg := range targets {
		b.WriteString(" " + tg.Name + " |")
	}
	b.WriteString(" not compared because |\n|---|")
	for range targets {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "| `%s` |", c.Name)
		reason, outOfScope := notInScope[c.Name]
		if c.Group != "" {
			reason, outOfScope = groupReason[c.Group], true
		}
		for i := range targets {
			if c.Group != "" {
				b.WriteString(" not run |")
				continue
			}
			o, ran := results[i][c.Name]
			if !ran {
				b.WriteString(" not run |")
				continue
			}
			st := o.Status()
			counts[i].all[st]++
			if !outOfScope {
				counts[i].scope[st]++
			}
			fmt.Fprintf(&b, " %s %d/%d/%d |", st, o.Pass, o.Fail, o.NA)
		}
		fmt.Fprintf(&b, " %s |\n", reason)
	}
	b.WriteString("\n| target | cases run: PASS / FAIL / NA | in scope: PASS / FAIL / NA |\n|---|---|---|\n")
	for i, tg := range targets {
		a, s := counts[i].all, counts[i].scope
		fmt.Fprintf(&b, "| %s | %d / %d / %d | %d / %d / %d |\n", tg.Name, a["PASS"], a["FAIL"], a["NA"], s["PASS"], s["FAIL"], s["NA"])
	}
	return b.String()
}
