package main

import (
	"slices"
	"time"
)

// sample is one measured run of one variant.
type sample struct {
	Wall time.Duration
	// CPU is user+sys of the processes the run started (from their
	// rusage, which includes their waited-for children).
	CPU time.Duration
	// MaxRSS is the largest peak resident set of those processes, bytes.
	MaxRSS int64
	// Attempts counts pings until the first reply (up+ping runs).
	Attempts int
	// Freed is how long after the clean-up the kernel had freed the
	// run's namespaces (down runs; 0 when not measured).
	Freed time.Duration
	// FreedOK: the kernel was seen freeing them (not a timeout).
	FreedOK bool
}

// add accumulates another process of the same run: times add, RSS is the max.
func (s *sample) add(o sample) {
	s.Wall += o.Wall
	s.CPU += o.CPU
	s.MaxRSS = max(s.MaxRSS, o.MaxRSS)
	s.Attempts += o.Attempts
}

// summary is the statistics of one variant's samples.
type summary struct {
	Runs     int
	Median   time.Duration
	Min      time.Duration
	Max      time.Duration
	CPU      time.Duration // median
	MaxRSS   int64         // max over runs
	Attempts int           // median
	Freed    time.Duration // median
	// FreedAll: every run's namespaces were seen freed (no timeout).
	FreedAll bool
}

func summarize(ss []sample) summary {
	if len(ss) == 0 {
		return summary{}
	}
	walls := make([]time.Duration, len(ss))
	cpus := make([]time.Duration, len(ss))
	freed := make([]time.Duration, len(ss))
	att := make([]time.Duration, len(ss))
	var rss int64
	freedAll := true
	for i, s := range ss {
		freedAll = freedAll && s.FreedOK
		walls[i], cpus[i], freed[i], att[i] = s.Wall, s.CPU, s.Freed, time.Duration(s.Attempts)
		rss = max(rss, s.MaxRSS)
	}
	return summary{
		Runs:     len(ss),
		Median:   median(walls),
		Min:      slices.Min(walls),
		Max:      slices.Max(walls),
		CPU:      median(cpus),
		MaxRSS:   rss,
		Attempts: int(median(att)),
		Freed:    median(freed),
		FreedAll: freedAll,
	}
}

// median of ds (the mean of the middle two for an even count); ds is not
// modified.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
