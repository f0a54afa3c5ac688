package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// loadConfig is the load the server's own clients put on it.
type loadConfig struct {
	httpClients, httpBody               int
	grpcConns, grpcStreams, grpcMessage int
}

// run starts the clients; they stop when ctx ends, each once its call in progress completed (so
// every request the server began is in its truth), and the WaitGroup says when they have.
func (l loadConfig) run(ctx context.Context, httpAddr, grpcAddr string) *sync.WaitGroup {
	var wg sync.WaitGroup
	body := bytes.Repeat([]byte("h"), l.httpBody)
	for range l.httpClients {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, ForceAttemptHTTP2: false}}
		wg.Go(func() {
			for ctx.Err() == nil {
				req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/upload", bytes.NewReader(body))
				if err != nil {
					log.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					log.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	msg := bytes.Repeat([]byte("g"), l.grpcMessage)
	for range l.grpcConns {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(bytesCodec{})))
		if err != nil {
			log.Fatal(err)
		}
		var calls sync.WaitGroup
		for range l.grpcStreams {
			calls.Go(func() {
				for ctx.Err() == nil {
					in, out := msg, []byte(nil)
					if err := conn.Invoke(context.Background(), "/gostitch.test.Echo/Echo", &in, &out); err != nil {
						log.Fatal(err)
					}
				}
			})
		}
		wg.Go(func() {
			calls.Wait()
			conn.Close()
		})
	}
	return &wg
}
