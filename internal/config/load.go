package config

import (
	"errors"
	"fmt"
	"os"
)

// Sources are the layers above the defaults, lowest first.
type Sources struct {
	// File is a YAML file; empty means none.
	File string
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Flags holds the flags given on the command line, by flag name, as
	// text. Only flags the user actually set belong here: a flag's default
	// must not hide a value from the file or the environment.
	Flags map[string]string
}

// Load builds the configuration: defaults < YAML file < environment < flags,
// then validates it.
func Load(src Sources) (Config, error) {
	c := Default()
	if src.File != "" {
		if err := LoadFile(&c, src.File); err != nil {
			return c, err
		}
	}
	lookup := src.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var errs []error
	for _, s := range Settings() {
		for _, name := range s.Env {
			v, ok := lookup(name)
			if !ok {
				continue
			}
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid setting %s from environment variable %s: %w", s.Key, name, err))
			}
			break // the first variable present wins
		}
		if v, ok := src.Flags[s.Flag]; ok && s.Flag != "" {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid setting %s from flag --%s: %w", s.Key, s.Flag, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}
