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
