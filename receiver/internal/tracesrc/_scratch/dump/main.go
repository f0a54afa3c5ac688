package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/exp/trace"
)

func main() {
	f, _ := os.Open(os.Args[1])
	r, err := trace.NewReader(f)
	if err != nil {
		panic(err)
	}
	for {
		e, err := r.ReadEvent()
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Println("ERR", err)
			return
		}
		s := e.String()
		if len(os.Args) > 2 {
			if st := e.Stack(); st != trace.NoStack {
				s += "\n  stack: " + st.String()
			}
		}
		fmt.Println(s)
	}
}
