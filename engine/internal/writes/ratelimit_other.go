//go:build !linux

package writes

// openRateTable keeps the table in this process: workers sharing one
// through a shared mapping is Linux-only, and so are workers.
func openRateTable(path string, rate float64, burst int) (*rateTable, error) {
	return localRateTable(rate, burst), nil
}
