// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server is named by $VOUCHERD_TEST_DB, a URL of a role that may create
// databases (postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable);
// .ci/run starts a private cluster and sets it. Without it the tests that
// need PostgreSQL are skipped with a note saying how to run them, except
// where PostgreSQL is expected ($CI or $VOUCHERD_TEST_DB_REQUIRED set):
// there they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the test server.
const Env = "VOUCHERD_TEST_DB"

// HowTo says how to run the PostgreSQL tests locally.
const HowTo = `to run the PostgreSQL tests: bash .ci/run (starts a private PostgreSQL 15 and sets ` + Env + `), or
  apt-get install postgresql; start a cluster; export ` + Env + `='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'`

// Base returns the server's URL, skipping (or, where PostgreSQL is
// expected, failing) the test without one.
func Base(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") != "" || os.Getenv(Env+"_REQUIRED") != "" {
			tb.Fatalf("PostgreSQL is expected here ($CI or $%s_REQUIRED) but $%s is empty; %s", Env, Env, HowTo)
		}
		tb.Skipf("$%s is empty; %s", Env, HowTo)
	}
	return u
}

// DB creates an empty database and returns its URL; it is dropped at cleanup.
func DB(tb testing.TB) string {
	tb.Helper()
	base := Base(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "voucherd_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to $%s: %v; %s", Env, err, HowTo)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("$%s: %v", Env, err)
	}
	u.Path = "/" + name
	return u.String()
}
