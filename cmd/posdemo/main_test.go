package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun_Once(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-once", "-http", "127.0.0.1:0"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"all 17 steps went as expected", "冲突 conflicts 1", "declined split_bill", "repeat: 409 denomination_limit", "midnight: 1 unredeemed vouchers expired"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRun_Usage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "usage: posdemo") {
		t.Fatalf("-h: exit %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-nope"}, &out, &errb); code != 2 || strings.Count(errb.String(), "\n") != 1 {
		t.Fatalf("bad flag: exit %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"extra"}, &out, &errb); code != 2 {
		t.Fatalf("argument: exit %d %q", code, errb.String())
	}
}

func TestNextPort(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8081"}, {":8080", ":8081"}, {"[::1]:8080", "[::1]:8081"},
		{"127.0.0.1:0", ""}, {"8080", ""}, {"localhost:http", ""},
	} {
		if got := nextPort(tt.addr); got != tt.want {
			t.Errorf("nextPort(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
