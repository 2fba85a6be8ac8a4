package period

import (
	"bytes"
	"os"
	"strconv"
)

// residentFiles returns the bytes of the process's resident memory that
// are backed by files or shared memory (/proc/self/statm's "shared":
// RssFile + RssShmem): the binary's code and data pages, mapped files. The
// process's RSS counts them; Go's memory limit does not. 0 when unknown.
func residentFiles() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
