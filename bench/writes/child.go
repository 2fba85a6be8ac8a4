//go:build unix

package main

// This file runs the writers of the read windows in a child process
// (-writers-process), as separate clients would be: their event loop then
// shares neither this process's threads nor its Go scheduler with the
// readers' loop, so what the read windows show is the server's doing.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/jawas/jawas/bench/internal/proc"
)

// childLoad starts n writers posting rate/s in total (0: flat out) to addr
// in a child process. The tally's fetch asks the child for its counts; stop
// ends the child and waits for it.
func childLoad(addr string, n int, rate float64) (t *tally, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(exe, "-writer-child", fmt.Sprintf("%s,%g,%d", addr, rate, n),
		"-client", *clientKind, "-gen-threads", strconv.Itoa(*genThreads))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(out)
	t = new(tally)
	var mu sync.Mutex
	t.fetch = func() {
		mu.Lock()
		defer mu.Unlock()
		var ok, late int64
		if _, err := fmt.Fprintln(in, "count"); err == nil {
			if line, err := br.ReadString('\n'); err == nil {
				fmt.Sscan(line, &ok, &late)
			}
		}
		t.OK.Store(ok)
		t.Late.Store(late)
	}
	t.cpu = func() proc.CPU {
		c, _ := proc.Tree(cmd.Process.Pid)
		return c
	}
	stop = func() {
		in.Close()
		io.Copy(io.Discard, br)
		cmd.Wait()
	}
	return t, stop, nil
}

// writerChild is -writer-child ADDR,RATE,N: it posts as load does until its
// stdin ends, answering each line read from stdin with "OK LATE" counts.
func writerChild(spec string) error {
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		return fmt.Errorf("-writer-child %q: want ADDR,RATE,N", spec)
	}
	rate, err1 := strconv.ParseFloat(parts[1], 64)
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || rate < 0 || n < 1 {
		return fmt.Errorf("-writer-child %q: want ADDR,RATE,N", spec)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t := load(parts[0], postReq, 202, n, *genThreads, rate, stop, &wg)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Printf("%d %d\n", t.OK.Load(), t.Late.Load())
	}
	close(stop)
	wg.Wait()
	return nil
}
