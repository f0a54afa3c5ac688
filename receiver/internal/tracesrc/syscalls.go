package tracesrc

import (
	"maps"
	"slices"
	"strings"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// Syscall names. The execution trace says that a goroutine entered a system call, not which:
// the stack at the call does, through the wrapper the program went through (os.(*File).Sync →
// internal/poll.(*FD).Fsync → syscall.Fsync). A syscall episode and its wait are named after
// the innermost wrapper of syscallWrappers on their stack; a stack with none (a raw
// syscall.Syscall, a cgo call, the runtime's own) leaves the name empty. The names form a small
// fixed set, so they bound the series of a metric.

// syscallStackDepth is how many frames the name is looked for in: the wrapper is the innermost
// frame or close to it (syscall.read under syscall.Read, syscall.Syscall under
// internal/poll.writev).
const syscallStackDepth = 4

// syscallPackages hold the wrappers, by the prefix of their functions' names.
var syscallPackages = [...]string{"syscall.", "golang.org/x/sys/unix.", "internal/syscall/unix."}

// syscallWrappers maps the functions of syscallPackages that make a system call (the name
// without the package, as the linux wrappers spell them) to the call's name.
var syscallWrappers = map[string]string{
	"read": "read", "Read": "read", "readlen": "read", "pread": "pread", "Pread": "pread",
	"readv": "readv", "Readv": "readv", "preadv": "preadv", "Preadv": "preadv",
	"write": "write", "Write": "write", "pwrite": "pwrite", "Pwrite": "pwrite",
	"writev": "writev", "Writev": "writev", "pwritev": "pwritev", "Pwritev": "pwritev",
	"Fsync": "fsync", "Fdatasync": "fdatasync", "SyncFileRange": "sync_file_range",
	"Sync": "sync", "Syncfs": "syncfs",
	"openat": "openat", "Open": "openat", "Openat": "openat", "openat2": "openat2", "Openat2": "openat2",
	"Close": "close", "fstatat": "fstatat", "Fstatat": "fstatat", "Stat": "fstatat", "Lstat": "fstatat",
	"Fstat": "fstat", "Statx": "statx", "Statfs": "statfs", "Fstatfs": "fstatfs",
	"Seek": "lseek", "Ftruncate": "ftruncate", "Truncate": "truncate", "Fallocate": "fallocate",
	"Getdents": "getdents64", "ReadDirent": "getdents64",
	"unlinkat": "unlinkat", "Unlinkat": "unlinkat", "Unlink": "unlinkat", "Rmdir": "unlinkat",
	"Renameat": "renameat", "Renameat2": "renameat2", "Rename": "renameat",
	"Mkdirat": "mkdirat", "Mkdir": "mkdirat", "readlinkat": "readlinkat", "Readlinkat": "readlinkat",
	"Flock": "flock", "fcntl": "fcntl", "Fchmod": "fchmod", "fchmodat": "fchmodat", "Fchown": "fchown",
	"ioctl": "ioctl", "ioctlPtr": "ioctl",
	"connect": "connect", "Connect": "connect", "accept4": "accept4", "Accept4": "accept4", "Accept": "accept4",
	"bind": "bind", "Bind": "bind", "Listen": "listen", "socket": "socket", "Socket": "socket",
	"Shutdown": "shutdown", "setsockopt": "setsockopt", "getsockopt": "getsockopt",
	"getsockname": "getsockname", "getpeername": "getpeername",
	"sendto": "sendto", "Sendto": "sendto", "recvfrom": "recvfrom", "Recvfrom": "recvfrom",
	"sendmsg": "sendmsg", "SendmsgN": "sendmsg", "Sendmsg": "sendmsg", "recvmsg": "recvmsg", "Recvmsg": "recvmsg",
	"sendfile": "sendfile", "Sendfile": "sendfile", "Splice": "splice", "Tee": "tee", "CopyFileRange": "copy_file_range",
	"EpollWait": "epoll_wait", "Select": "select", "Poll": "poll", "ppoll": "ppoll", "Ppoll": "ppoll",
	"Nanosleep": "nanosleep", "ClockGettime": "clock_gettime", "ClockNanosleep": "clock_nanosleep",
	"wait4": "wait4", "Wait4": "wait4", "waitid": "waitid", "Waitid": "waitid", "Kill": "kill",
	"GetRandom": "getrandom", "Getrandom": "getrandom",
	"mmap": "mmap", "Mmap": "mmap", "munmap": "munmap", "Munmap": "munmap", "Madvise": "madvise",
	"Mprotect": "mprotect", "Msync": "msync", "pipe2": "pipe2", "Pipe2": "pipe2", "Dup3": "dup3",
}

// pollWrappers are the system calls internal/poll makes itself (syscall.Syscall under them).
var pollWrappers = map[string]string{"internal/poll.writev": "writev"}

// SyscallNames lists every name a syscall episode or wait can get, sorted.
func SyscallNames() []string {
	names := slices.AppendSeq(slices.Collect(maps.Values(syscallWrappers)), maps.Values(pollWrappers))
	slices.Sort(names)
	return slices.Compact(names)
}

// syscallName names the system call of stack frames; "" when none of its top frames is a
// known wrapper.
func syscallName(frames []trace.StackFrame) string {
	for _, f := range frames {
		if name, ok := pollWrappers[f.Func]; ok {
			return name
		}
		for _, p := range syscallPackages {
			if base, ok := strings.CutPrefix(f.Func, p); ok {
				if name, ok := syscallWrappers[base]; ok {
					return name
				}
			}
		}
	}
	return ""
}

// stackNames classifies stacks once per stack id and generation: the system call a syscall
// stack makes, and whether a blocking stack waits for flow-control window (flowcontrol.go).
type stackNames struct {
	syscalls map[exectrace.StackID]string
	flow     map[exectrace.StackID]bool
	frames   []trace.StackFrame
}

// syscall returns the name of the system call stack id makes, "" when unknown.
func (n *stackNames) syscall(tr *exectrace.Reader, id exectrace.StackID) string {
	if id == exectrace.NoStack {
		return ""
	}
	return classifyOnce(n, &n.syscalls, tr, id, syscallStackDepth, syscallName)
}

// classifyOnce returns what classify says of the top depth frames of stack id, reading them
// only the first time in the generation: memo holds the answers.
func classifyOnce[T any](n *stackNames, memo *map[exectrace.StackID]T, tr *exectrace.Reader, id exectrace.StackID,
	depth int, classify func([]trace.StackFrame) T) T {
	if v, ok := (*memo)[id]; ok {
		return v
	}
	n.frames = tr.AppendFrames(n.frames[:0], id, depth)
	v := classify(n.frames)
	if *memo == nil {
		*memo = make(map[exectrace.StackID]T)
	}
	(*memo)[id] = v
	return v
}

// reset forgets the stacks of the generation that ended.
func (n *stackNames) reset() {
	clear(n.syscalls)
	clear(n.flow)
}
