// Package harness runs the W1-W4 workloads of issue 9 against one Go queue,
// exactly as bench/peers/node/harness.js does for the Node peers and
// bench/throughput.cc for pop-queue. One workload per process (scripts/bench
// gives each run fresh state); the result is one JSON line on stdout.
package harness

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Queue is what each peer program implements.
type Queue interface {
	// Open connects, migrates and creates the queue (not timed).
	Open(ctx context.Context, a Args) error
	// Enqueue stores one batch of no-op jobs whose payload is the index.
	Enqueue(ctx context.Context, indices []int) error
	// Start runs workers; the handler calls onJob(index) when it starts.
	Start(ctx context.Context, onJob func(int), concurrency int, latency bool) error
	// Unfinished is how many jobs the store still holds as not finished.
	Unfinished(ctx context.Context) (int, error)
	Close(ctx context.Context) error
	// Settings describes the configuration used, for the report.
	Settings(a Args) string
}

// Args are the harness flags, the same in every language.
type Args struct {
	Workload    string
	Jobs        int
	Batch       int
	Concurrency int
	Duration    float64
	Samples     int
	Depth       int
	Warmup      int
}

// Main parses flags, runs one workload and prints its JSON line.
func Main(system, module, backend string, q Queue) {
	var a Args
	flag.StringVar(&a.Workload, "workload", "w1", "w0 | w1 | w2 | w3 | w4")
	flag.IntVar(&a.Jobs, "jobs", 20000, "jobs for W1/W2")
	flag.IntVar(&a.Batch, "batch", 1000, "W1 batch size")
	flag.IntVar(&a.Concurrency, "concurrency", 100, "worker slots for W2/W3")
	flag.Float64Var(&a.Duration, "duration", 60, "W3 seconds")
	flag.IntVar(&a.Samples, "samples", 1000, "W4 samples")
	flag.IntVar(&a.Depth, "depth", 4000, "W3 minimum depth")
	flag.IntVar(&a.Warmup, "warmup", 10, "W4 samples discarded first")
	flag.Parse()
	if err := run(system, module, backend, q, a); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", system, err)
		os.Exit(1)
	}
}

func run(system, module, backend string, q Queue, a Args) error {
	ctx := context.Background()
	out := map[string]any{
		"system": system, "version": moduleVersion(module), "backend": backend,
		"workload": a.Workload, "settings": q.Settings(a), "load": loadAverage(), "ok": true,
	}
	// w0: open (migrate, create the queue) and close, nothing else:
	// scripts/bench runs it on a fresh database first so that the counters of
	// the measured run do not include the schema's creation.
	w0 := func(context.Context, Queue, Args, map[string]any) error { return nil }
	workloads := map[string]func(context.Context, Queue, Args, map[string]any) error{
		"w0": w0, "w1": w1, "w2": w2, "w3": w3, "w4": w4,
	}
	w, ok := workloads[a.Workload]
	if !ok {
		return fmt.Errorf("unknown workload %q", a.Workload)
	}
	if err := q.Open(ctx, a); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	err := w(ctx, q, a, out)
	if cerr := q.Close(ctx); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return err
	}
	out["polls"] = polls.Load()
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
	return nil
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				return strings.TrimPrefix(d.Version, "v")
			}
		}
	}
	return "unknown"
}

func loadAverage() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var l []float64
	for _, f := range strings.Fields(string(b))[:3] {
		v, _ := strconv.ParseFloat(f, 64)
		l = append(l, v)
	}
	return l
}

func indices(from, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = from + i
	}
	return s
}

func enqueueAll(ctx context.Context, q Queue, jobs, batch int) error {
	for done := 0; done < jobs; done += batch {
		if err := q.Enqueue(ctx, indices(done, min(batch, jobs-done))); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
	}
	return nil
}

// polls counts the store queries the harness itself made (drained()),
// reported so that scripts/bench can take them off the server's counters.
var polls atomic.Int64

// drained polls the store until it holds no unfinished job.
func drained(ctx context.Context, q Queue) (time.Time, error) {
	for {
		polls.Add(1)
		n, err := q.Unfinished(ctx)
		if err != nil {
			return time.Time{}, err
		}
		if n == 0 {
			return time.Now(), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func w1(ctx context.Context, q Queue, a Args, out map[string]any) error {
	t0 := time.Now()
	if err := enqueueAll(ctx, q, a.Jobs, a.Batch); err != nil {
		return err
	}
	s := time.Since(t0).Seconds()
	out["jobs"], out["batch"], out["seconds"], out["jobs_per_s"] = a.Jobs, a.Batch, s, float64(a.Jobs)/s
	return nil
}

// w2: N jobs enqueued first; from the first handler start until the store
// holds no unfinished job.
func w2(ctx context.Context, q Queue, a Args, out map[string]any) error {
	if err := enqueueAll(ctx, q, a.Jobs, 1000); err != nil {
		return err
	}
	runs := make([]atomic.Int32, a.Jobs)
	var handled atomic.Int64
	var t0 time.Time
	var first sync.Once
	all := make(chan struct{})
	err := q.Start(ctx, func(i int) {
		first.Do(func() { t0 = time.Now() })
		if i >= 0 && i < a.Jobs {
			runs[i].Add(1)
		}
		if handled.Add(1) == int64(a.Jobs) {
			close(all)
		}
	}, a.Concurrency, false)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	<-all
	t1, err := drained(ctx, q)
	if err != nil {
		return err
	}
	once := 0
	for i := range runs {
		if runs[i].Load() == 1 {
			once++
		}
	}
	s := t1.Sub(t0).Seconds()
	out["jobs"], out["concurrency"], out["seconds"], out["jobs_per_s"] = a.Jobs, a.Concurrency, s, float64(a.Jobs)/s
	out["exactly_once"], out["ok"] = once, once == a.Jobs
	return nil
}

// w3: the producer keeps enqueued-started >= 1.5 x depth (so at least `depth`
// wait in the store while workers hold fetched batches); handler starts counted over `duration` seconds.
func w3(ctx context.Context, q Queue, a Args, out map[string]any) error {
	target := int64(a.Depth * 3 / 2)
	var enqueued, handled atomic.Int64
	firstCh := make(chan time.Time, 1)
	more := func() error {
		n := min(int64(1000), target)
		if err := q.Enqueue(ctx, indices(int(enqueued.Load()), int(n))); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		enqueued.Add(n)
		return nil
	}
	for enqueued.Load() < target {
		if err := more(); err != nil {
			return err
		}
	}
	err := q.Start(ctx, func(int) {
		if handled.Add(1) == 1 {
			firstCh <- time.Now()
		}
	}, a.Concurrency, false)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	t0 := <-firstCh
	end := t0.Add(time.Duration(a.Duration * float64(time.Second)))
	minDepth := int64(math.MaxInt64)
	for time.Now().Before(end) {
		depth := enqueued.Load() - handled.Load()
		minDepth = min(minDepth, depth)
		if depth < target {
			if err := more(); err != nil {
				return err
			}
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	done := handled.Load()
	out["seconds"], out["concurrency"], out["completed"] = a.Duration, a.Concurrency, done
	out["jobs_per_s"], out["min_depth"] = float64(done)/a.Duration, minDepth
	out["enqueued"] = enqueued.Load()
	return nil
}

// w4: concurrency 1, one job at a time; enqueue call to handler start.
func w4(ctx context.Context, q Queue, a Args, out map[string]any) error {
	var mu sync.Mutex
	want, ch := -1, make(chan time.Time, 1)
	err := q.Start(ctx, func(i int) {
		mu.Lock()
		defer mu.Unlock()
		if i == want {
			ch <- time.Now()
		}
	}, 1, true)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	var ms []float64
	for i := 0; i < a.Samples+a.Warmup; i++ {
		mu.Lock()
		want = i
		mu.Unlock()
		t0 := time.Now()
		if err := q.Enqueue(ctx, []int{i}); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		select {
		case t1 := <-ch:
			if i >= a.Warmup {
				ms = append(ms, float64(t1.Sub(t0).Microseconds())/1000)
			}
		case <-time.After(60 * time.Second):
			return fmt.Errorf("sample %d: handler did not start within 60 s", i)
		}
		if _, err := drained(ctx, q); err != nil {
			return err
		}
	}
	sort.Float64s(ms)
	pct := func(p float64) float64 {
		return ms[min(len(ms)-1, int(math.Ceil(p/100*float64(len(ms))))-1)]
	}
	out["samples"] = len(ms)
	out["latency_ms"] = map[string]float64{"min": ms[0], "p50": pct(50), "p95": pct(95), "p99": pct(99), "max": ms[len(ms)-1]}
	return nil
}
