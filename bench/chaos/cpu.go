package main

import (
	"os"
	"strconv"
	"strings"
)

// clockTicksPerS is USER_HZ, the unit of /proc CPU times on Linux.
const clockTicksPerS = 100

// procCPUSeconds is the user+system CPU time pid has used, from
// /proc/PID/stat (fields 14 and 15); 0 when unknown.
func procCPUSeconds(pid int) float64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	// The command name (field 2) may contain spaces; fields restart after ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicksPerS
}

// boxCPU is the machine's busy and total CPU seconds so far, from /proc/stat.
func boxCPU() (busy, total float64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		total += x
		if i != 3 && i != 4 { // idle, iowait
			busy += x
		}
	}
	return busy / clockTicksPerS, total / clockTicksPerS
}

// cpuUse is where the CPU went while the generator ran.
type cpuUse struct {
	ServiceCores float64 `json:"service_cores"`  // service CPU s / wall s
	LoadgenCores float64 `json:"loadgen_cores"`  // generator CPU s / wall s
	BoxBusyCores float64 `json:"box_busy_cores"` // every process on the machine
	ServiceUSPer float64 `json:"service_cpu_us_per_answer"`
}

// cpuMark is a reading at the start of the load.
type cpuMark struct{ service, busy, wall float64 }

func markCPU(pid int, wall float64) cpuMark {
	busy, _ := boxCPU()
	return cpuMark{service: procCPUSeconds(pid), busy: busy, wall: wall}
}

// walUse is the embedded database's WAL fsyncs while the generator ran (zero
// when the service has no embedded backend).
type walUse struct {
	FsyncsPerS  float64 `json:"fsyncs_per_s"`
	MeanMS      float64 `json:"mean_ms"`
	PerAccepted float64 `json:"per_accepted_transfer"`
	Stalls      float64 `json:"write_stalls"`   // Pebble took no write until a flush or compaction caught up
	StallMS     float64 `json:"write_stall_ms"` // their total duration
}

// walMark is the service's fsync and write stall counts and total times,
// from /metrics.
type walMark struct{ count, sumMS, stalls, stallMS float64 }

func markWAL(svc *service) walMark {
	n, err1 := svc.metric("internal_transfer_embedded_wal_fsync_ms_count")
	ms, err2 := svc.metric("internal_transfer_embedded_wal_fsync_ms_sum")
	if err1 != nil || err2 != nil {
		return walMark{}
	}
	m := walMark{count: n, sumMS: ms}
	// Absent until the first stall.
	m.stalls, _ = svc.metric("internal_transfer_embedded_write_stall_ms_count")
	m.stallMS, _ = svc.metric("internal_transfer_embedded_write_stall_ms_sum")
	return m
}

func (m walMark) use(end walMark, wall float64, accepted int64) walUse {
	n := end.count - m.count
	if n <= 0 || wall <= 0 {
		return walUse{}
	}
	u := walUse{FsyncsPerS: n / wall, MeanMS: (end.sumMS - m.sumMS) / n,
		Stalls: end.stalls - m.stalls, StallMS: end.stallMS - m.stallMS}
	if accepted > 0 {
		u.PerAccepted = n / float64(accepted)
	}
	return u
}
