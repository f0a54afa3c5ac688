// Package bpf holds the eBPF programs gostitch loads (socket.bpf.c) and their bpf2go
// bindings. The compiled object and the bindings are committed, so building needs no clang;
// `go generate ./bpf/...` regenerates them with clang and llvm-strip.
package bpf

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -go-package bpf -target bpfel -cflags "-O2 -mcpu=v3 -Wall -Werror" Socket socket.bpf.c
