// Command stowage-bench is a load generator for S3-compatible servers and Stowage. It runs
// PutObject/GetObject of 4 KiB and 16 MiB objects and a listing with N concurrent workers
// against one or more targets in the same run, and prints ops/s, MB/s, p50/p99 per case and
// the ratio of every target to the first one. It asserts nothing: the numbers are for
// people (the machines swing 2-6x between runs; compare targets measured together).
//
// Targets (-target, repeatable; the first is the baseline of the ratios):
//
//	name=minio,kind=s3,url=http://127.0.0.1:9000,bucket=b,access=KEY,secret=SECRET
//	name=stowage,kind=s3,url=http://127.0.0.1:5000/s3,bucket=b,access=KEY,secret=SECRET
//	name=stowage-rest,kind=rest,url=http://127.0.0.1:5000,bucket=b,key=SERVICE_JWT
//	name=store-s3,kind=s3store,url=http://127.0.0.1:9000,bucket=b,access=KEY,secret=SECRET
//	name=store-file,kind=filestore,url=/tmp/folder
//
// kind s3 speaks S3 with aws-sdk-go-v2; rest speaks the Supabase Storage REST API; s3store
// and filestore drive Stowage's backend stores in-process (the store level, no HTTP server).
// -endpoint/-compare are shorthands for two s3 targets sharing -bucket and credentials.
// -local-minio BIN starts that MinIO binary and compares MinIO, the s3 store on it and the
// file store (make bench-stores).
//
// -cpu name=PID (repeatable) reports the CPU that process and its children spent per
// operation, and each run's line ends with the share of the machine's CPU the hypervisor
// took meanwhile (steal: a round where it differs much between targets compared a slower
// machine with a faster one); -rounds N runs every case N times with the targets taking turns (each round
// starting one target later) and prints medians, then the same medians over the quiet
// runs alone (steal at most 5 %; a ratio, where both its runs were), unless all were; -also-vs NAME prints ratios against a
// second target; -payload unsigned sends UNSIGNED-PAYLOAD bodies. `stowage-bench relay
// LISTEN UPSTREAM` is a bare TCP relay, the physical-limit peer for a gateway in front of
// an S3 server (make bench-load runs both).
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is one system under test.
type target interface {
	put(ctx context.Context, key string, body []byte) error
	get(ctx context.Context, key string) (int64, error)
	list(ctx context.Context, prefix string) (int, error) // errNoList when unsupported
	cleanup(ctx context.Context, prefix string) error
}

type named struct {
	name string
	t    target
}

type benchCase struct {
	name string
	op   string // put, get, list
	size int
}

var allCases = []benchCase{
	{"put-4KiB", "put", 4 << 10},
	{"get-4KiB", "get", 4 << 10},
	{"put-16MiB", "put", 16 << 20},
	{"get-16MiB", "get", 16 << 20},
	{"list-1000", "list", 4 << 10},
}

// parseCases reads -cases: the named cases, and put-SIZE / get-SIZE for any size of the
// payload (4KiB, 64KiB, 1MiB, ... up to 16MiB), so a cost per operation can be followed
// across object sizes.
func parseCases(list string) ([]benchCase, error) {
	var out []benchCase
	for _, name := range strings.Split(list, ",") {
		if i := slices.IndexFunc(allCases, func(c benchCase) bool { return c.name == name }); i >= 0 {
			out = append(out, allCases[i])
			continue
		}
		op, size, ok := strings.Cut(name, "-")
		if !ok || (op != "put" && op != "get") {
			return nil, fmt.Errorf("unknown case %q", name)
		}
		n, err := parseSize(size)
		if err != nil || n < 1 || n > maxPayload {
			return nil, fmt.Errorf("case %q: want a size from 1B to 16MiB, such as 64KiB", name)
		}
		out = append(out, benchCase{name, op, n})
	}
	return out, nil
}

// selectTargets returns the targets of ts named in only (a comma list), in its order: the
// first is the one ratios are taken against. A name twice would measure one server as two.
func selectTargets(ts []named, only string) ([]named, error) {
	var kept []named
	for _, name := range strings.Split(only, ",") {
		i := slices.IndexFunc(ts, func(t named) bool { return t.name == name })
		if i < 0 {
			return nil, fmt.Errorf("no target %q", name)
		}
		if slices.ContainsFunc(kept, func(t named) bool { return t.name == name }) {
			return nil, fmt.Errorf("target %q named twice", name)
		}
		kept = append(kept, ts[i])
	}
	return kept, nil
}

// parseSize reads a case's size in binary units, as the case names have them (4KiB, 16MiB,
// 512B). Not gateway.ParseSize: that one reads the reference's decimal units (1 KB = 1000).
func parseSize(s string) (int, error) {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxPayload/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// maxPayload is the largest object a case writes (the random payload every put slices).
const maxPayload = 16 << 20

// quietSteal is the most steal (share of the machine's CPU time the hypervisor took
// meanwhile) a run may have to count as quiet.
const quietSteal = 0.05

type result struct {
	ops      int
	bytes    int64
	elapsed  time.Duration
	p50, p99 time.Duration
	errs     int
	firstErr error
	cpu      []float64 // ms of CPU per operation: the client, then each -cpu process
	steal    float64   // share of the machine's CPU time the hypervisor took meanwhile
}

func main() {
	var targets stringList
	endpoint := flag.String("endpoint", "", "S3 endpoint URL (shorthand for an s3 target named \"endpoint\")")
	compare := flag.String("compare", "", "second S3 endpoint (e.g. MinIO directly), measured in the same run")
	bucket := flag.String("bucket", "", "bucket of -endpoint/-compare (must exist)")
	access := flag.String("access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key of -endpoint")
	secret := flag.String("secret", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret of -endpoint")
	cmpAccess := flag.String("compare-access-key", "", "access key of -compare (default -access-key)")
	cmpSecret := flag.String("compare-secret", "", "secret of -compare (default -secret)")
	cmpBucket := flag.String("compare-bucket", "", "bucket of -compare (default -bucket)")
	flag.Var(&targets, "target", "a target: name=..,kind=s3|rest|s3store|filestore,url=..,bucket=..,access=..,secret=..,key=.. (repeatable)")
	workers := flag.Int("workers", 8, "concurrent workers per case")
	duration := flag.Duration("duration", 5*time.Second, "how long each case runs (unless -count)")
	count := flag.Int("count", 0, "operations per case instead of a duration")
	rounds := flag.Int("rounds", 1, "run every case this many times, the targets taking turns, and print medians (the ratios are taken within each round)")
	caseList := flag.String("cases", "", "comma list of cases (default all: put-4KiB,get-4KiB,put-16MiB,get-16MiB,list-1000)")
	keep := flag.Bool("keep", false, "keep the objects written")
	var cpuSpecs stringList
	flag.Var(&cpuSpecs, "cpu", "name=pid of a server process whose CPU (with its children) to report per operation (repeatable)")
	local := flag.String("local-minio", "", "MinIO binary: start it and compare MinIO, the s3 store on it and the file store (before any -target)")
	payloadMode := flag.String("payload", "signed", "how s3 targets send PutObject bodies: signed (the payload SHA-256, as SDKs must over plain http) or unsigned (UNSIGNED-PAYLOAD, as SDKs do over TLS)")
	only := flag.String("only", "", "comma list of target names: measure only these, in this order (the first is the one ratios are taken against)")
	baseline2 := flag.String("also-vs", "", "name of a second target to print ratios against (e.g. MinIO behind a bare relay)")
	if len(os.Args) == 4 && os.Args[1] == "relay" {
		if err := relay(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "stowage-bench relay:", err)
			os.Exit(1)
		}
		return
	}
	flag.Parse()
	if *payloadMode != "signed" && *payloadMode != "unsigned" {
		fmt.Fprintln(os.Stderr, "stowage-bench: -payload must be signed or unsigned")
		os.Exit(2)
	}
	unsignedPayload = *payloadMode == "unsigned"
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *local != "" {
		specs, stopMinIO, err := localMinIO(ctx, *local)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stowage-bench:", err)
			os.Exit(1)
		}
		defer stopMinIO()
		targets = append(specs, targets...)
	}

	if *endpoint != "" {
		targets = append(targets, fmt.Sprintf("name=endpoint,kind=s3,url=%s,bucket=%s,access=%s,secret=%s", *endpoint, *bucket, *access, *secret))
	}
	if *compare != "" {
		targets = append(targets, fmt.Sprintf("name=compare,kind=s3,url=%s,bucket=%s,access=%s,secret=%s",
			*compare, or(*cmpBucket, *bucket), or(*cmpAccess, *access), or(*cmpSecret, *secret)))
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "stowage-bench: give -endpoint (and -compare) or -target")
		flag.Usage()
		os.Exit(2)
	}
	var watches []cpuWatch
	for _, v := range cpuSpecs {
		w, err := parseCPUWatch(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stowage-bench:", err)
			os.Exit(2)
		}
		watches = append(watches, w)
	}
	var ts []named
	for _, spec := range targets {
		n, t, err := parseTarget(ctx, spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stowage-bench:", err)
			return
		}
		ts = append(ts, named{n, t})
	}
	if *only != "" {
		var err error
		if ts, err = selectTargets(ts, *only); err != nil {
			fmt.Fprintln(os.Stderr, "stowage-bench: -only:", err)
			os.Exit(2)
		}
	}
	cases := allCases
	if *caseList != "" {
		var err error
		if cases, err = parseCases(*caseList); err != nil {
			fmt.Fprintln(os.Stderr, "stowage-bench:", err)
			os.Exit(2)
		}
	}
	prefix := fmt.Sprintf("stowage-bench-%d-%04x/", time.Now().Unix(), rand.N(1<<16))
	payload := make([]byte, maxPayload)
	for i := range payload {
		payload[i] = byte(rand.Uint32())
	}
	fmt.Printf("%-10s %-14s %7s %10s %9s %9s %9s %6s  %s\n", "case", "target", "ops", "ops/s", "MB/s", "p50", "p99", "errors", "ratio ops/s vs "+ts[0].name)
	for _, c := range cases {
		// Per target, per round: ops/s, the ratios measured in that round, CPU per op.
		type series struct {
			ops, ratio, ratio2 []float64
			cpu                [][]float64
			// Per entry of ops, ratio, ratio2, cpu: its run (both runs of a ratio) was quiet.
			quiet, ratioQ, ratio2Q, cpuQ []bool
		}
		all := make([]series, len(ts))
		for round := range *rounds {
			// Each round starts one target later: a target measured right after a peer that
			// left the disk busy (writeback of its writes, its own background work) would
			// otherwise pay for it in every round.
			results := make([]result, len(ts))
			for k := range ts {
				i := (round + k) % len(ts)
				results[i] = run(ctx, ts[i].t, c, prefix, payload, *workers, *duration, *count, watches)
			}
			// A run is quiet when the hypervisor took little of the machine meanwhile; a
			// ratio, when both its runs were.
			var steal2 float64
			for i, nt := range ts {
				if nt.name == *baseline2 {
					steal2 = results[i].steal
				}
			}
			var base, base2 float64
			if r := results[0]; r.elapsed > 0 {
				base = float64(r.ops) / r.elapsed.Seconds()
			}
			for i, nt := range ts {
				if nt.name == *baseline2 && results[i].elapsed > 0 {
					base2 = float64(results[i].ops) / results[i].elapsed.Seconds()
				}
			}
			for i, nt := range ts {
				r := results[i]
				if r.elapsed <= 0 {
					continue // interrupted before its turn
				}
				opsPerSec := float64(r.ops) / r.elapsed.Seconds()
				quiet := r.steal <= quietSteal
				ratio := "-"
				if i > 0 && base > 0 {
					ratio = fmt.Sprintf("%.2fx", opsPerSec/base)
					all[i].ratio = append(all[i].ratio, opsPerSec/base)
					all[i].ratioQ = append(all[i].ratioQ, quiet && results[0].steal <= quietSteal)
				}
				if nt.name != *baseline2 && base2 > 0 {
					ratio += fmt.Sprintf("  %.2fx vs %s", opsPerSec/base2, *baseline2)
					all[i].ratio2 = append(all[i].ratio2, opsPerSec/base2)
					all[i].ratio2Q = append(all[i].ratio2Q, quiet && steal2 <= quietSteal)
				}
				name := nt.name
				if *rounds > 1 {
					name = fmt.Sprintf("%s #%d", nt.name, round+1)
				}
				if r.errs > 0 && r.ops == 0 {
					fmt.Printf("%-10s %-14s failed: %v\n", c.name, name, r.firstErr)
					continue
				}
				all[i].ops = append(all[i].ops, opsPerSec)
				all[i].quiet = append(all[i].quiet, quiet)
				fmt.Printf("%-10s %-14s %7d %10.1f %9.1f %9s %9s %6d  %s\n", c.name, name, r.ops, opsPerSec,
					float64(r.bytes)/r.elapsed.Seconds()/1e6, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.errs, ratio)
				if r.cpu != nil {
					all[i].cpu = append(all[i].cpu, r.cpu)
					all[i].cpuQ = append(all[i].cpuQ, quiet)
					fmt.Printf("%-10s %-14s   %s steal=%.0f%%\n", "", "", formatCPU(watches, r.cpu), 100*r.steal)
				} else if r.steal > 0 {
					fmt.Printf("%-10s %-14s   steal=%.0f%%\n", "", "", 100*r.steal)
				}
				if r.firstErr != nil {
					fmt.Fprintf(os.Stderr, "  first error (%s, %s): %v\n", c.name, nt.name, r.firstErr)
				}
			}
		}
		if *rounds < 2 {
			continue
		}
		for i, nt := range ts {
			line := fmt.Sprintf("%-10s %-14s median of %d: %.1f ops/s", c.name, nt.name, len(all[i].ops), median(all[i].ops))
			if len(all[i].ratio) > 0 {
				line += fmt.Sprintf(", %.2fx %s", median(all[i].ratio), ts[0].name)
			}
			if len(all[i].ratio2) > 0 {
				line += fmt.Sprintf(", %.2fx %s", median(all[i].ratio2), *baseline2)
			}
			if len(all[i].cpu) > 0 {
				line += ", " + formatCPU(watches, medianCPU(all[i].cpu))
			}
			fmt.Println(line)
		}
		// The same medians over the quiet runs alone (a ratio: over the rounds where both
		// its runs were quiet), unless every run was: a run during which the hypervisor took
		// much of the machine measured a slower machine than its peers did.
		allQuiet := true
		for _, s := range all {
			allQuiet = allQuiet && !slices.Contains(s.quiet, false)
		}
		for i, nt := range ts {
			if allQuiet {
				break
			}
			s := all[i]
			ops, ratio, ratio2, cpu := onlyQuiet(s.ops, s.quiet), onlyQuiet(s.ratio, s.ratioQ), onlyQuiet(s.ratio2, s.ratio2Q), onlyQuiet(s.cpu, s.cpuQ)
			if len(ops) == 0 {
				continue
			}
			line := fmt.Sprintf("%-10s %-14s quiet (steal <= %.0f%%): median of %d: %.1f ops/s", c.name, nt.name, 100*quietSteal, len(ops), median(ops))
			if len(ratio) > 0 {
				line += fmt.Sprintf(", %.2fx %s (%d rounds)", median(ratio), ts[0].name, len(ratio))
			}
			if len(ratio2) > 0 {
				line += fmt.Sprintf(", %.2fx %s (%d rounds)", median(ratio2), *baseline2, len(ratio2))
			}
			if len(cpu) > 0 {
				line += ", " + formatCPU(watches, medianCPU(cpu))
			}
			fmt.Println(line)
		}
	}
	if !*keep {
		for _, nt := range ts {
			if err := nt.t.cleanup(context.WithoutCancel(ctx), prefix); err != nil {
				fmt.Fprintf(os.Stderr, "stowage-bench: cleanup %s: %v\n", nt.name, err)
			}
		}
	}
}

// run executes one case against one target. Gets and lists read the objects the put case
// of the same size wrote; a case run alone writes what it needs first.
func run(ctx context.Context, t target, c benchCase, prefix string, payload []byte, workers int, d time.Duration, count int, watches []cpuWatch) result {
	sizeDir := prefix + fmt.Sprintf("put-%d/", c.size)
	if c.op != "put" {
		seed(ctx, t, sizeDir, payload[:c.size], workers)
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		res      result
		wg       sync.WaitGroup
		deadline = time.Now().Add(d)
	)
	cpu0 := sampleCPU(watches)
	total0, steal0 := machineTicks()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			var mine []time.Duration
			var bytes int64
			var errs int
			var firstErr error
			for i := 0; ; i++ {
				n := next.Add(1)
				if (count > 0 && n > int64(count)) || (count == 0 && time.Now().After(deadline)) || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				var err error
				var moved int64
				switch c.op {
				case "put":
					err = t.put(ctx, fmt.Sprintf("%s%d-%d", sizeDir, w, i), payload[:c.size])
					moved = int64(c.size)
				case "get":
					moved, err = t.get(ctx, fmt.Sprintf("%s%d-%d", sizeDir, w, i%seedCount(c.size)))
				case "list":
					_, err = t.list(ctx, sizeDir)
				}
				if err != nil {
					errs++
					firstErr = cmpOr(firstErr, err)
					continue
				}
				mine = append(mine, time.Since(t0))
				bytes += moved
			}
			mu.Lock()
			lat = append(lat, mine...)
			res.bytes += bytes
			res.errs += errs
			res.firstErr = cmpOr(res.firstErr, firstErr)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	total1, steal1 := machineTicks()
	res.steal = stealShare(total0, steal0, total1, steal1)
	res.ops = len(lat)
	if len(watches) > 0 {
		res.cpu = cpuPerOp(cpu0, sampleCPU(watches), res.ops)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50 = lat[len(lat)/2]
		res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return res
}

// seedCount is how many objects per worker a get case cycles through.
func seedCount(size int) int {
	// 64 each for small objects; larger ones fewer, so that a get case writes at most
	// seedBytes per worker first (64 of 1 MiB under 16 workers would be 1 GiB of seed).
	return min(64, max(2, seedBytes/size))
}

const seedBytes = 4 << 20

// seed makes sure the objects a get or list case reads exist: the put case of the same
// size normally wrote them already.
func seed(ctx context.Context, t target, dir string, body []byte, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range seedCount(len(body)) {
				key := fmt.Sprintf("%s%d-%d", dir, w, i)
				if _, err := t.get(ctx, key); err != nil {
					_ = t.put(ctx, key, body)
				}
			}
		})
	}
	wg.Wait()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// onlyQuiet is the entries of v whose quiet flag is set.
func onlyQuiet[T any](v []T, quiet []bool) []T {
	var out []T
	for k, q := range quiet {
		if q {
			out = append(out, v[k])
		}
	}
	return out
}

// medianCPU is the per-process median over rounds of CPU-per-op vectors.
func medianCPU(rounds [][]float64) []float64 {
	out := make([]float64, len(rounds[0]))
	for j := range out {
		col := make([]float64, 0, len(rounds))
		for _, r := range rounds {
			col = append(col, r[j])
		}
		out[j] = median(col)
	}
	return out
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
