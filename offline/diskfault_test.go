package offline_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestFault_Disk runs the disk fault tests of bboltfault_test.go: failures
// injected into bbolt's own writes and syncs (the data pages, the meta
// page, a full disk, a slow disk), as bbolt's failpoints do. bbolt has no
// hook for them in a normal build, so this test builds the package's tests
// again against a copy of bbolt whose file writes and fdatasyncs go through
// a hook (bboltFaultCopy), then runs them. bbolt's source is otherwise
// unchanged; the copy fails loudly if a bbolt upgrade moved the lines it
// hooks.
//
// Run them by hand with: go test -run TestFault_Disk -v ./offline/
func TestFault_Disk(t *testing.T) {
	if os.Getenv("OFFLINE_BBOLTFAULT") != "" {
		return // this is the child built with the overlay: bboltfault_test.go runs there
	}
	if testing.Short() {
		t.Skip("builds the tests again with a fault-injecting bbolt")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the hook wraps bbolt's Linux fdatasync")
	}
	goBin := goCommand(t)
	dir := t.TempDir()
	modfile := bboltFaultCopy(t, goBin, dir)
	bin := filepath.Join(dir, "offline-fault.test")
	build := exec.Command(goBin, "test", "-c", "-tags", "bboltfault", "-modfile", modfile, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the fault-injecting tests: %v\n%s", err, out)
	}
	run := exec.Command(bin, "-test.run", "^TestBoltFault", "-test.v", "-test.count=1")
	run.Env = append(os.Environ(), "OFFLINE_BBOLTFAULT=1")
	out, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBoltFault") {
		t.Fatalf("fault-injecting tests: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "--- ") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// goCommand returns the go command on PATH (CI and a developer have it).
func goCommand(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command on PATH to build the fault-injecting tests: %v", err)
	}
	return p
}

// bboltFaultCopy copies the bbolt module this module uses into dir/bbolt
// with a fault hook added, and writes dir/go.mod, this module's go.mod
// replacing bbolt with that copy (for go build -modfile; the module cache
// itself cannot be patched):
//
//   - bbolt.FaultHook, when set, runs before every write of a page to the
//     file ("write", with the offset and length) and every fdatasync
//     ("sync"); an error it returns is what the write or sync returns.
//
// It returns the go.mod's path.
func bboltFaultCopy(t *testing.T, goBin, dir string) string {
	t.Helper()
	out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", "go.etcd.io/bbolt").Output()
	if err != nil {
		t.Fatalf("go list bbolt: %v", err)
	}
	src, dst := strings.TrimSpace(string(out)), filepath.Join(dir, "bbolt")
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.IsDir() && (rel == "cmd" || rel == "tests" || strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		case strings.HasSuffix(p, "_test.go") || !(strings.HasSuffix(p, ".go") || d.Name() == "go.mod"):
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy bbolt: %v", err)
	}
	patch := map[string][2]string{
		"db.go": {"db.ops.writeAt = db.file.WriteAt", "db.ops.writeAt = faultWriteAt(db.file)"},
		"bolt_linux.go": {"func fdatasync(db *DB) error {\n",
			"func fdatasync(db *DB) error {\n\tif err := faultSync(); err != nil {\n\t\treturn err\n\t}\n"},
	}
	for name, r := range patch {
		p := filepath.Join(dst, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), r[0]) != 1 {
			t.Fatalf("bbolt's %s no longer has %q once: update bboltFaultCopy for this bbolt version", name, r[0])
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), r[0], r[1], 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "faulthook_test_overlay.go"), []byte(faultHookSource), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(root))
	mod, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(strings.TrimSuffix(gomod, ".mod") + ".sum")
	if err != nil {
		t.Fatal(err)
	}
	modfile := filepath.Join(dir, "go.mod")
	mod = append(mod, []byte("\nreplace go.etcd.io/bbolt => "+dst+"\n")...)
	if err := os.WriteFile(modfile, mod, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o600); err != nil {
		t.Fatal(err)
	}
	return modfile
}

// faultHookSource is added to the copy of package bbolt.
const faultHookSource = `package bbolt

import "os"

// FaultHook, when set (before any DB is opened), runs before every page
// write ("write", offset, length) and every fdatasync ("sync", 0, 0) of a
// DB's file; an error it returns fails that write or sync. Added by the
// offline package's disk fault test; not part of bbolt.
var FaultHook func(op string, off int64, n int) error

func faultWriteAt(f *os.File) func(b []byte, off int64) (int, error) {
	return func(b []byte, off int64) (int, error) {
		if h := FaultHook; h != nil {
			if err := h("write", off, len(b)); err != nil {
				return 0, err
			}
		}
		return f.WriteAt(b, off)
	}
}

func faultSync() error {
	if h := FaultHook; h != nil {
		return h("sync", 0, 0)
	}
	return nil
}
`
