package miniogo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// minioGoVersion is the minio-go release whose functional_tests.go is run: the one the
// pinned MinIO server (scripts/minio.sh) is built with, so it is already in the module
// cache wherever MinIO was built.
const minioGoVersion = "v7.0.91"

// mintCase is one call of functional_tests.go's main in MINT_MODE=full, e.g.
// "testPutMultipartObjectWithChecksums(true)". Group is "" for the cases main always runs,
// "tls" for those it runs only over TLS (SSE-C) and "kms" for those it runs only with a KMS.
type mintCase struct {
	Name  string
	Group string
}

// suite is the built runner and the cases it knows, in main's order.
type suite struct {
	bin   string
	cases []mintCase
}

var (
	suiteOnce sync.Once
	built     suite
	suiteErr  error
)

// buildSuite copies functional_tests.go of minioGoVersion out of the module cache (go mod
// download fetches it through the module proxy when missing), lists the cases of its main
// and builds testdata/runner around it. The binary is cached under ~/.cache/stowage by the
// hash of its sources: a cold build takes minutes on a loaded machine.
func buildSuite(t *testing.T) suite {
	t.Helper()
	suiteOnce.Do(func() { built, suiteErr = buildSuiteOnce() })
	if suiteErr != nil {
		t.Fatal(suiteErr)
	}
	return built
}

func buildSuiteOnce() (suite, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/minio/minio-go/v7@"+minioGoVersion).Output()
	if err != nil {
		return suite{}, fmt.Errorf("go mod download minio-go: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return suite{}, fmt.Errorf("go mod download minio-go: no folder in %s", out)
	}
	src, err := os.ReadFile(filepath.Join(mod.Dir, "functional_tests.go"))
	if err != nil {
		return suite{}, err
	}
	prog, cases, err := rewriteFunctional(src)
	if err != nil {
		return suite{}, err
	}
	_, here, _, _ := runtime.Caller(0)
	runnerDir := filepath.Join(filepath.Dir(here), "testdata", "runner")
	files := map[string][]byte{"functional_tests.go": prog, "cases_gen.go": casesTable(cases)}
	for _, name := range []string{"go.mod", "go.sum", "runner.go"} {
		if files[name], err = os.ReadFile(filepath.Join(runnerDir, name)); err != nil {
			return suite{}, err
		}
	}
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum", "runner.go", "functional_tests.go", "cases_gen.go"} {
		fmt.Fprintf(h, "%s %d\n", name, len(files[name]))
		h.Write(files[name])
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return suite{}, err
	}
	dir := filepath.Join(cache, "stowage", "minio-go-functional-"+minioGoVersion+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, "runner")
	if _, err := os.Stat(bin); err == nil {
		return suite{bin: bin, cases: cases}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return suite{}, err
	}
	// Concurrent test binaries build once: the second waits on the lock, then finds the binary.
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return suite{}, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return suite{}, err
	}
	if _, err := os.Stat(bin); err == nil {
		return suite{bin: bin, cases: cases}, nil
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return suite{}, err
	}
	defer os.RemoveAll(tmp)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return suite{}, err
		}
	}
	cmd := exec.Command("go", "build", "-o", "runner", ".")
	cmd.Dir = tmp
	// Its own module: the repository's GOFLAGS (e.g. -mod=vendor) do not apply.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly -buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return suite{}, fmt.Errorf("build the minio-go functional runner: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "runner"), bin); err != nil {
		return suite{}, err
	}
	return suite{bin: bin, cases: cases}, nil
}

// rewriteFunctional turns functional_tests.go into a file of package main without its build
// tag (the tag would also select the file inside the minio-go package it imports) and with
// main renamed mintMain, and returns the cases main calls in full mode.
func rewriteFunctional(src []byte) ([]byte, []mintCase, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "functional_tests.go", src, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	var main *ast.FuncDecl
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == "main" {
			main = fd
		}
	}
	if main == nil {
		return nil, nil, fmt.Errorf("functional_tests.go has no main")
	}
	var full *ast.BlockStmt
	ast.Inspect(main.Body, func(n ast.Node) bool {
		if is, ok := n.(*ast.IfStmt); ok && full == nil {
			if call, ok := is.Cond.(*ast.CallExpr); ok && exprString(fset, call.Fun) == "isFullMode" {
				full = is.Body
			}
		}
		return full == nil
	})
	if full == nil {
		return nil, nil, fmt.Errorf("functional_tests.go: no `if isFullMode()` in main")
	}
	var cases []mintCase
	var collect func(stmts []ast.Stmt, group string) error
	collect = func(stmts []ast.Stmt, group string) error {
		for _, s := range stmts {
			switch s := s.(type) {
			case *ast.ExprStmt:
				cases = append(cases, mintCase{Name: exprString(fset, s.X), Group: group})
			case *ast.IfStmt:
				g := exprString(fset, s.Cond)
				if g != "tls" && g != "kms" {
					return fmt.Errorf("functional_tests.go: unexpected condition %q in main", g)
				}
				if err := collect(s.Body.List, g); err != nil {
					return err
				}
			default:
				return fmt.Errorf("functional_tests.go: unexpected statement at %v in main", fset.Position(s.Pos()))
			}
		}
		return nil
	}
	if err := collect(full.List, ""); err != nil {
		return nil, nil, err
	}
	main.Name.Name = "mintMain"
	var kept []*ast.CommentGroup
	for _, cg := range f.Comments {
		if !strings.Contains(cg.Text(), "+build") && !strings.HasPrefix(cg.List[0].Text, "//go:build") {
			kept = append(kept, cg)
		}
	}
	f.Comments = kept
	var buf bytes.Buffer
	if err := printer.Fprint(&buf, fset, f); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), cases, nil
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b bytes.Buffer
	_ = printer.Fprint(&b, fset, e)
	return b.String()
}

// casesTable is the Go source of mintCases: case name → the call.
func casesTable(cases []mintCase) []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by conformance/miniogo. DO NOT EDIT.\n\npackage main\n\nvar mintCases = map[string]func(){\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "\t%q: func() { %s },\n", c.Name, c.Name)
	}
	b.WriteString("}\n")
	return b.Bytes()
}
