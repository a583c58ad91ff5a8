// Command ferretdb runs an embedded FerretDB on a TCP address, for pop-queue's
// MongoDB tests: a real MongoDB-wire server with no MongoDB install. Built and
// started by scripts/lib/services.sh, on its PostgreSQL backend (filters
// pushed down to SQL) or its SQLite backend.
//
//	ferretdb -listen 127.0.0.1:27017 -postgresql-url postgres://127.0.0.1/ferretdb
//	ferretdb -listen 127.0.0.1:27017 -dir /tmp/x/ferretdb-data
//
// Prints the MongoDB URI on stdout once it accepts connections; stops on
// SIGINT/SIGTERM. Restarting it with the same arguments keeps the data.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "", "directory of the SQLite databases (SQLite backend)")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL: use the PostgreSQL backend instead of SQLite")
	logLevel := flag.String("log-level", "error", "debug, info, warn or error")
	flag.Parse()
	if (*dir == "") == (*pgURL == "") {
		log.Fatal("ferretdb: exactly one of -dir and -postgresql-url is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("ferretdb: bad -log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
	}
	if *pgURL != "" {
		config.Handler = "postgresql"
		config.PostgreSQLURL = *pgURL
	} else {
		abs, err := filepath.Abs(*dir)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			log.Fatal(err)
		}
		config.Handler = "sqlite"
		// Immediate transactions take SQLite's write lock up front: concurrent
		// writers queue in the busy handler instead of failing to upgrade a
		// read transaction (which stalls concurrent claimers for seconds).
		config.SQLiteURL = "file:" + abs + "/?_txlock=immediate"
	}
	f, err := ferretdb.New(config)
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI waits until the listener is bound.
	fmt.Println(f.MongoDBURI())

	if err := <-done; err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
