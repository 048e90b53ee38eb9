package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

// Profiling hooks for contributors, deliberately not user settings (no
// flag, no YAML key, not in --help), set up by main for the whole process
// rather than by the core packages: the benchmark (deploy/bench) and anyone
// chasing a slow run set
//
//	ARCHIVER_CPUPROFILE=cpu.pprof     CPU profile of the whole run
//	ARCHIVER_MEMPROFILE=mem.pprof     allocation profile (alloc_space/alloc_objects
//	                                  and inuse_*) written at the end of the run
//	ARCHIVER_MEMPROFILERATE=4096      bytes between allocation samples (Go's default: 512 KiB)
//
// and read the files with `go tool pprof -top bin/archiver cpu.pprof`.
const (
	envCPUProfile     = "ARCHIVER_CPUPROFILE"
	envMemProfile     = "ARCHIVER_MEMPROFILE"
	envMemProfileRate = "ARCHIVER_MEMPROFILERATE"
)

// startProfiles starts the profiles the environment asks for and returns
// the function that finishes them. Profiling problems are logged, never
// fatal: they must not change what a run does.
func startProfiles(stderr io.Writer) (stop func()) {
	warn := func(what, path string, err error) {
		fmt.Fprintf(stderr, "archiver: warning: cannot write the %s profile %s: %v\n", what, path, err)
	}
	cpuPath, memPath := os.Getenv(envCPUProfile), os.Getenv(envMemProfile)
	if cpuPath == "" && memPath == "" {
		return func() {}
	}
	if memPath != "" {
		if n, err := strconv.Atoi(os.Getenv(envMemProfileRate)); err == nil && n > 0 {
			runtime.MemProfileRate = n
		}
	}
	var cpu *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err == nil {
			err = pprof.StartCPUProfile(f)
			if err != nil {
				f.Close()
			}
		}
		if err != nil {
			warn("CPU", cpuPath, err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				warn("CPU", cpuPath, err)
			}
		}
		if memPath != "" {
			runtime.GC() // the profile is as of the last collection: include everything
			f, err := os.Create(memPath)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				warn("allocation", memPath, err)
			}
		}
	}
}
