package api

// This file gives every loaded project its databases: the [db.NAME]
// tables of jawas.toml as one set of lazily opened pools that all the
// project's sources share (engine/internal/sqlhost over sqldb).

import (
	"log/slog"

	"github.com/jawas/jawas/engine/internal/period"
	"github.com/jawas/jawas/engine/internal/sqlhost"
)

// loadProject loads cfg's sources with cfg's databases; the caller closes
// the DB once it is done with the project (the engine at its end, Check
// and Build when they return).
func loadProject(cfg *Config, log *slog.Logger) (*period.Project, *sqlhost.DB, error) {
	db, err := sqlhost.Open(cfg)
	if err != nil {
		return nil, nil, err
	}
	proj, err := period.LoadWith(cfg, period.Options{Log: log, DB: db})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return proj, db, nil
}
