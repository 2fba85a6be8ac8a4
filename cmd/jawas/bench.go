package main

import (
	"context"
	"errors"

	"github.com/jawas/jawas/internal/loadgen"
)

// runBench runs the load generator: many clients, each polling once per period.
func (m *Main) runBench(ctx context.Context, args []string) error {
	switch code := loadgen.Main(args, m.Stdout, m.Stderr); code {
	case 0:
		return nil
	case 2:
		return usageError{"invalid arguments (see above)"}
	default:
		return errors.Join(errSilent)
	}
}
