package main

// runChild runs this process as a supervisor child (engine or worker) when
// the environment says so; ok is false for a normal command-line run.
func runChild() (code int, ok bool) { return 0, false }
