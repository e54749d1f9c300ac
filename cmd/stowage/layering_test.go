package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stowage/stowage/"

// TestImportLayering keeps the one-way import rule of STYLE.md true:
// cmd → gateway/server → s3proto, rest → gateway → db, gateway/backend; leaves stay leaves.
func TestImportLayering(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Deps " "}}:{{join .Imports " "}}`, "../../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps, imports := map[string][]string{}, map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		pkg := strings.TrimPrefix(parts[0], module)
		deps[pkg], imports[pkg] = strings.Fields(parts[1]), strings.Fields(parts[2])
	}
	ours := func(d string) (string, bool) { return strings.CutPrefix(d, module) }
	rules := []struct {
		name   string
		direct bool // judge direct imports only (the engine legitimately reaches db)
		match  func(pkg string) bool
		forbid func(dep string) bool
	}{
		{"gateway stays free of HTTP, XML, SDKs and dialects", false,
			func(p string) bool { return p == "gateway" },
			func(d string) bool {
				o, isOurs := ours(d)
				return strings.Contains(d, "gofiber") || strings.Contains(d, "aws-sdk-go") ||
					(isOurs && (strings.HasPrefix(o, "rest") || strings.HasPrefix(o, "s3proto") || strings.HasPrefix(o, "gateway/server")))
			}},
		{"gateway does not speak XML", true,
			func(p string) bool { return p == "gateway" },
			func(d string) bool { return d == "encoding/xml" }},
		{"dialects do not import each other, db or store implementations", true,
			func(p string) bool { return p == "rest" || p == "s3proto" || p == "admin" },
			func(d string) bool {
				o, isOurs := ours(d)
				return isOurs && (o == "db" || strings.HasPrefix(o, "gateway/backend/filebackend") || strings.HasPrefix(o, "gateway/backend/s3backend") ||
					(o == "rest" || o == "s3proto" || o == "admin"))
			}},
		{"the cdn dialect speaks through rest's envelope only: no db, stores, engine internals or S3", true,
			func(p string) bool { return p == "cdn" },
			func(d string) bool {
				o, isOurs := ours(d)
				return isOurs && (o == "db" || strings.HasPrefix(o, "gateway/backend") || o == "s3proto" || strings.HasPrefix(o, "gateway/server"))
			}},
		{"db imports nothing of ours but its own sub-packages", false,
			func(p string) bool { return p == "db" || strings.HasPrefix(p, "db/migrations") },
			func(d string) bool { o, isOurs := ours(d); return isOurs && !strings.HasPrefix(o, "db") }},
		{"stores do not import the engine, db or fiber", false,
			func(p string) bool {
				return strings.HasPrefix(p, "gateway/backend/") && !strings.HasSuffix(p, "test") && !strings.Contains(p, "miniotest")
			},
			func(d string) bool {
				o, isOurs := ours(d)
				return strings.Contains(d, "gofiber") || (isOurs && (o == "gateway" || o == "db"))
			}},
		{"leaves use the standard library (auth: + golang-jwt)", false,
			func(p string) bool {
				return p == "sigv4" || p == "multipart" || p == "gateway/auth" || p == "gateway/passphrase"
			},
			func(d string) bool {
				first, _, _ := strings.Cut(d, "/")
				thirdParty := strings.Contains(first, ".") && !strings.HasPrefix(d, "golang.org/x/")
				return thirdParty && !strings.HasPrefix(d, "github.com/golang-jwt/")
			}},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			for pkg, list := range deps {
				if !r.match(pkg) {
					continue
				}
				if r.direct {
					list = imports[pkg]
				}
				for _, d := range list {
					if r.forbid(d) {
						t.Errorf("%s imports %s", pkg, d)
					}
				}
			}
		})
	}
	if _, ok := deps["gateway"]; !ok {
		t.Fatal("go list did not report the gateway package; the test would check nothing")
	}
}
