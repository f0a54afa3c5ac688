package tracesrc

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/trace"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestSyscallNamesLive names the system calls of a real task from their stacks: under the
// execution tracer, a task creates, writes, fsyncs, reads and closes a file, connects to a
// loopback listener, and makes a raw syscall.Syscall (sched_yield), which no wrapper names: the
// runtime records its stack from the caller of syscall.Syscall on.
func TestSyscallNamesLive(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		if c, err := lis.Accept(); err == nil {
			_, _ = c.Write([]byte("hello"))
			c.Close()
		}
	}()
	path := filepath.Join(t.TempDir(), "store")

	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	err = func() error {
		_, task := trace.NewTask(context.Background(), "io")
		defer task.End()
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := f.Write([]byte("block")); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if _, err := os.ReadFile(path); err != nil {
			return err
		}
		c, err := net.Dial("tcp", lis.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, _, _ = syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		_, err = io.ReadAll(c)
		return err
	}()
	trace.Stop()
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := readAll(t, buf.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Each wrapper on a syscall's stack, and the name the syscall must have.
	want := map[string]string{"syscall.Open": "openat", "syscall.Write": "write", "syscall.Fsync": "fsync",
		"syscall.Read": "read", "syscall.Close": "close", "syscall.Connect": "connect"}
	seen := map[string]bool{}
	for _, task := range c.tasks {
		if task.Type != "io" {
			continue
		}
		for _, e := range task.Episodes {
			if e.Kind != Syscall {
				continue
			}
			if len(e.Stack) > 0 && strings.Contains(e.Stack[0].Func, "TestSyscallNamesLive") { // the raw one
				seen["syscall.Syscall"] = true
				if e.Reason != "" {
					t.Errorf("raw syscall named %q", e.Reason)
				}
			}
			for fn, name := range want {
				if hasFrame(e.Stack, fn) {
					seen[fn] = true
					if e.Reason != name {
						t.Errorf("syscall through %s named %q, want %q\n%v", fn, e.Reason, name, e.Stack)
					}
				}
			}
		}
	}
	for fn := range want {
		if !seen[fn] {
			t.Errorf("no syscall through %s in the task", fn)
		}
	}
	if !seen["syscall.Syscall"] {
		t.Error("no raw syscall in the task")
	}
}

// TestSyscallNamesSyncnode: in syncnode's real trace (testdata/synctraces.go, -fsync-every 1),
// the block store's fsyncs and writes and the peers' socket reads and writes are named so,
// every name is one of SyscallNames, and the syscalls are waits too.
func TestSyscallNamesSyncnode(t *testing.T) {
	c, _, err := readAll(t, readFixture(t, "syncnode.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"os.(*File).Sync": "fsync", "os.(*File).Write": "write",
		"net.(*conn).Write": "write", "net.(*conn).Read": "read"}
	seen := map[string]int{}
	names := SyscallNames()
	for _, task := range c.tasks {
		for _, e := range task.Episodes {
			if e.Kind != Syscall {
				continue
			}
			if _, known := slices.BinarySearch(names, e.Reason); !known && e.Reason != "" {
				t.Errorf("syscall named %q, not one of SyscallNames", e.Reason)
			}
			for fn, name := range want {
				if hasFrame(e.Stack, fn) {
					seen[fn]++
					if e.Reason != name {
						t.Errorf("task %d: syscall through %s named %q, want %q", task.ID, fn, e.Reason, name)
					}
				}
			}
		}
	}
	for fn := range want {
		if seen[fn] == 0 {
			t.Errorf("no syscall through %s in a task", fn)
		}
	}
	t.Logf("syscalls by caller: %v", seen)

	// Each syscall the trace shows whole is an InSyscall wait by the same name, pointing at its
	// episode when it has one.
	waits, pointing := 0, 0
	for _, w := range c.waits {
		if w.Kind != InSyscall {
			continue
		}
		waits++
		if w.Episode < 0 {
			continue
		}
		pointing++
		if e := w.Task.Episodes[w.Episode]; e.Kind != Syscall || e.Start != w.Start || e.Reason != w.Reason {
			t.Errorf("syscall wait %+v points at episode %+v", w, e)
		}
	}
	if waits == 0 || pointing == 0 {
		t.Errorf("%d syscall waits, %d of them episodes", waits, pointing)
	}
}
