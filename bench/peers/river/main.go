// River on PostgreSQL (pgx v5) for the W1-W4 harness. BENCH_POSTGRES_URL
// names a fresh database; River's migrations run first (not timed). Batches
// use InsertMany (COPY); a batch of 1 uses Insert.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"popqueue.dev/bench/peers/internal/harness"
)

type noopArgs struct {
	I int `json:"i"`
}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	onJob func(int)
}

func (w *noopWorker) Work(ctx context.Context, job *river.Job[noopArgs]) error {
	w.onJob(job.Args.I)
	return nil
}

type riverQueue struct {
	pool     *pgxpool.Pool
	inserter *river.Client[pgx.Tx]
	worker   *river.Client[pgx.Tx]
}

var (
	fetchCooldown = envDuration("RIVER_FETCH_COOLDOWN", 10*time.Millisecond)
	fetchPoll     = envDuration("RIVER_FETCH_POLL", time.Second)
	logger        = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func (q *riverQueue) Settings(a harness.Args) string {
	slots := a.Concurrency
	if a.Workload == "w4" {
		slots = 1
	}
	return fmt.Sprintf("MaxWorkers %d, FetchCooldown %s, FetchPollInterval %s; InsertMany", slots, fetchCooldown, fetchPoll)
}

func (q *riverQueue) Open(ctx context.Context, a harness.Args) error {
	url := os.Getenv("BENCH_POSTGRES_URL")
	if url == "" {
		return fmt.Errorf("BENCH_POSTGRES_URL is not set")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	cfg.MaxConns = 20
	if q.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return err
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(q.pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	q.inserter, err = river.NewClient(riverpgxv5.New(q.pool), &river.Config{Logger: logger})
	return err
}

func (q *riverQueue) Enqueue(ctx context.Context, indices []int) error {
	if len(indices) == 1 {
		_, err := q.inserter.Insert(ctx, noopArgs{I: indices[0]}, nil)
		return err
	}
	params := make([]river.InsertManyParams, len(indices))
	for k, i := range indices {
		params[k] = river.InsertManyParams{Args: noopArgs{I: i}}
	}
	_, err := q.inserter.InsertMany(ctx, params)
	return err
}

func (q *riverQueue) Start(ctx context.Context, onJob func(int), concurrency int, latency bool) error {
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{onJob: onJob})
	var err error
	q.worker, err = river.NewClient(riverpgxv5.New(q.pool), &river.Config{
		Logger:            logger,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: concurrency}},
		Workers:           workers,
		FetchCooldown:     fetchCooldown,
		FetchPollInterval: fetchPoll,
	})
	if err != nil {
		return err
	}
	return q.worker.Start(ctx)
}

func (q *riverQueue) Unfinished(ctx context.Context) (int, error) {
	var n int
	err := q.pool.QueryRow(ctx, `select count(*) from river_job
		where state not in ('completed', 'cancelled', 'discarded')`).Scan(&n)
	return n, err
}

func (q *riverQueue) Close(ctx context.Context) error {
	if q.worker != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := q.worker.Stop(stopCtx); err != nil {
			return err
		}
	}
	if q.pool != nil {
		q.pool.Close()
	}
	return nil
}

func main() {
	harness.Main("River", "github.com/riverqueue/river", "postgres", &riverQueue{})
}
