package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/bc"
	"github.com/shelflake/shelflake/forecast/writeback/netsuite"
	"github.com/shelflake/shelflake/forecast/writeback/odoo"
	"github.com/shelflake/shelflake/forecast/writeback/route"
	"github.com/shelflake/shelflake/forecast/writeback/sap"
)

// erpAdapters is the registry of ERP adapters a --erp-config file's routes
// name in "erp": the only place the program imports them. An adapter
// package exports a constructor of this signature:
//
//	func(raw json.RawMessage, deps route.Deps) (writeback.Channel, error)
//
// that decodes its route's "config" (refusing unknown fields) and returns
// its channel, a writeback.Channel that should also be a
// writeback.OutcomeReader (for shelflake writeback outcomes).
func erpAdapters() route.Registry {
	return route.Registry{
		"odoo":     newOdooChannel,
		"netsuite": newNetSuiteChannel,
		"bc":       newBCChannel,
		"sap":      newSAPChannel,
	}
}

func newOdooChannel(raw json.RawMessage, deps route.Deps) (writeback.Channel, error) {
	cfg, err := odoo.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = deps.MaxAttempts
	}
	return odoo.New(cfg, odoo.Options{Transport: deps.Transport})
}

func newNetSuiteChannel(raw json.RawMessage, deps route.Deps) (writeback.Channel, error) {
	cfg, err := netsuite.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = deps.MaxAttempts
	}
	return netsuite.New(cfg, netsuite.Options{Transport: deps.Transport})
}

func newBCChannel(raw json.RawMessage, deps route.Deps) (writeback.Channel, error) {
	cfg, err := bc.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = deps.MaxAttempts
	}
	return bc.New(cfg, bc.Options{Transport: deps.Transport, Logger: deps.Logger})
}

func newSAPChannel(raw json.RawMessage, deps route.Deps) (writeback.Channel, error) {
	cfg, err := sap.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = deps.MaxAttempts
	}
	return sap.New(cfg, sap.Options{Transport: deps.Transport, Logger: deps.Logger})
}

// unroutedError says which locations' documents no route of the config
// file serves: they stay in the outbox until the file names them.
func unroutedError(file string, locs []string) error {
	const show = 10
	list := strings.Join(locs[:min(len(locs), show)], ", ")
	if len(locs) > show {
		list += fmt.Sprintf(" and %d more", len(locs)-show)
	}
	return fmt.Errorf("%s routes no ERP for location %s: their documents stay in the outbox; add them (or a \"*\" route) and run shelflake writeback retry", file, list)
}
