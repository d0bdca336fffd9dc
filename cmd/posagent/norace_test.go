//go:build !race

package main

// raceFlags are the go build flags that give a posagent built by a test
// the race detector the test itself runs with: none without -race.
var raceFlags []string
