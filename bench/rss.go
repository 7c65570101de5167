package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mem is a process's resident memory as reported by /proc/<pid>/status.
type Mem struct {
	RSSBytes int64 // VmRSS: resident now
	HWMBytes int64 // VmHWM: peak resident since the process started
}

// MB returns the peak resident set in MiB (what the targets bound).
func (m Mem) MB() float64 { return float64(m.HWMBytes) / (1 << 20) }

// ReadMem reads VmRSS and VmHWM of the process pid (0 for the current one).
func ReadMem(pid int) (Mem, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Mem{}, fmt.Errorf("bench: reading memory status: %w", err)
	}
	return parseStatus(b)
}

// parseStatus extracts VmRSS and VmHWM ("VmRSS:	  123456 kB") from a
// /proc status file.
func parseStatus(b []byte) (Mem, error) {
	var m Mem
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return Mem{}, fmt.Errorf("bench: malformed %s line %q", name, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Mem{}, fmt.Errorf("bench: malformed %s line: %w", name, err)
		}
		if name == "VmRSS" {
			m.RSSBytes = kb << 10
		} else {
			m.HWMBytes = kb << 10
		}
		seen++
	}
	if seen != 2 {
		return Mem{}, fmt.Errorf("bench: VmRSS/VmHWM not found in status")
	}
	return m, nil
}

// CPUSeconds returns the user and system CPU time the process pid (0: this
// one) has used so far, from /proc/<pid>/stat.
func CPUSeconds(pid int) (float64, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: reading CPU time: %w", err)
	}
	// The command (field 2) is in parentheses and may hold spaces: the
	// fields counted from 3 start after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed %s", path)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: malformed %s", path)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: malformed %s", path)
	}
	return (utime + stime) / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on Linux.
const clockTicks = 100
