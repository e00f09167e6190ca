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
