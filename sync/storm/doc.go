// Package storm holds the server's reconnect-storm benchmark (storm_test.go):
// thousands of terminals that were offline come back at once, each with a
// queue of signed records, against real hubs in processes of their own (two
// instances on one PostgreSQL database, or one on the embedded bbolt file),
// over real websockets on loopback. It prints the drain time beside its goal
// and the server's memory per idle connection. The package has no code of
// its own: run it with go test -run '^$' -bench Storm -benchtime 1x ./sync/storm.
package storm
