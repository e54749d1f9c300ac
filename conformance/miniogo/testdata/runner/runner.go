// Command miniogo-functional-runner runs named cases of minio-go's functional_tests.go.
// conformance/miniogo copies that file beside this one (build tag removed, its main renamed
// mintMain) and generates cases_gen.go, the table of the cases its main calls in MINT_MODE
// full. One process runs one case, so that a panic or a hang ends only that case.
package main

import (
	"fmt"
	"log/slog"
	"os"
)

func main() {
	// The same JSON log lines as functional_tests.go's own main (mint's format): one line
	// per outcome with "name", "function", "status" (PASS, FAIL or NA) and the error.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.MessageKey || a.Value.String() == "" {
				return slog.Attr{}
			}
			return a
		},
	})))
	for _, name := range os.Args[1:] {
		run, ok := mintCases[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown case %q\n", name)
			os.Exit(2)
		}
		run()
	}
}
