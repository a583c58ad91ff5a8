// Asynq on Redis for the W1-W4 harness. BENCH_REDIS_URL names the server;
// the queue name is per run (BENCH_PREFIX) and the queue is deleted at the
// end. Asynq has no batch enqueue: a batch of B is B enqueues in flight at
// once (goroutines), awaited together.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"popqueue.dev/bench/peers/internal/harness"
)

type asynqQueue struct {
	opt       asynq.RedisConnOpt
	queue     string
	client    *asynq.Client
	inspector *asynq.Inspector
	server    *asynq.Server
}

var checkInterval = func() time.Duration {
	if v, err := time.ParseDuration(os.Getenv("ASYNQ_TASK_CHECK_INTERVAL")); err == nil {
		return v
	}
	return 100 * time.Millisecond
}()

func (q *asynqQueue) Settings(a harness.Args) string {
	slots := a.Concurrency
	if a.Workload == "w4" {
		slots = 1
	}
	return fmt.Sprintf("Concurrency %d, TaskCheckInterval %s; batch = concurrent Enqueue calls", slots, checkInterval)
}

func (q *asynqQueue) Open(ctx context.Context, a harness.Args) error {
	url := os.Getenv("BENCH_REDIS_URL")
	if url == "" {
		return fmt.Errorf("BENCH_REDIS_URL is not set")
	}
	var err error
	if q.opt, err = asynq.ParseRedisURI(url); err != nil {
		return err
	}
	q.queue = os.Getenv("BENCH_PREFIX")
	if q.queue == "" {
		q.queue = fmt.Sprintf("bench%d", os.Getpid())
	}
	if o, ok := q.opt.(asynq.RedisClientOpt); ok {
		o.PoolSize = 100
		q.opt = o
	}
	q.client = asynq.NewClient(q.opt)
	q.inspector = asynq.NewInspector(q.opt)
	return q.client.Ping()
}

func (q *asynqQueue) enqueueOne(ctx context.Context, i int) error {
	payload, _ := json.Marshal(map[string]int{"i": i})
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask("noop", payload), asynq.Queue(q.queue))
	return err
}

func (q *asynqQueue) Enqueue(ctx context.Context, indices []int) error {
	if len(indices) == 1 {
		return q.enqueueOne(ctx, indices[0])
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(indices))
	for _, i := range indices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.enqueueOne(ctx, i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (q *asynqQueue) Start(ctx context.Context, onJob func(int), concurrency int, latency bool) error {
	q.server = asynq.NewServer(q.opt, asynq.Config{
		Concurrency:       concurrency,
		Queues:            map[string]int{q.queue: 1},
		TaskCheckInterval: checkInterval,
		LogLevel:          asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(ctx context.Context, t *asynq.Task) error {
		var p struct{ I int }
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
		}
		onJob(p.I)
		return nil
	})
	return q.server.Start(mux)
}

func (q *asynqQueue) Unfinished(ctx context.Context) (int, error) {
	info, err := q.inspector.GetQueueInfo(q.queue)
	if err != nil {
		return 0, err
	}
	return info.Pending + info.Active + info.Scheduled + info.Retry + info.Aggregating, nil
}

func (q *asynqQueue) Close(ctx context.Context) error {
	if q.server != nil {
		q.server.Shutdown()
	}
	if q.inspector != nil {
		_ = q.inspector.DeleteQueue(q.queue, true)
		q.inspector.Close()
	}
	if q.client != nil {
		return q.client.Close()
	}
	return nil
}

func main() {
	harness.Main("Asynq", "github.com/hibiken/asynq", "redis", &asynqQueue{})
}
