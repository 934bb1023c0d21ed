package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// caches are the data cache sizes of one core, in bytes (0: unknown), and
// where they were read.
type caches struct {
	l1d, l2, l3 int64
	source      string
	// thp is the kernel's transparent huge page mode ("always",
	// "madvise", "never"), "" when unknown: with 4 KiB pages a heap of
	// gigabytes costs a page-table walk on most random accesses.
	thp string
}

// detectCaches reads the caches of cpu0 from sysfs, or, where a virtual
// machine hides them there, from getconf (glibc reads CPUID; in a VM that
// may describe the host's caches rather than the share the guest gets).
func detectCaches() caches {
	thp := thpMode(readTrim("/sys/kernel/mm/transparent_hugepage/enabled"))
	if c, ok := sysfsCaches("/sys/devices/system/cpu/cpu0/cache"); ok {
		c.thp = thp
		return c
	}
	c := caches{source: "getconf (CPUID; in a virtual machine it may describe the host)", thp: thp}
	for _, v := range []struct {
		name string
		dst  *int64
	}{{"LEVEL1_DCACHE_SIZE", &c.l1d}, {"LEVEL2_CACHE_SIZE", &c.l2}, {"LEVEL3_CACHE_SIZE", &c.l3}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := exec.CommandContext(ctx, "getconf", v.name).Output()
		cancel()
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			*v.dst = n
		}
	}
	if c.l2 == 0 && c.l3 == 0 {
		c.source = "unknown (no /sys/devices/system/cpu/cpu0/cache, no getconf)"
	}
	return c
}

// sysfsCaches reads dir/index*/{level,type,size}.
func sysfsCaches(dir string) (caches, bool) {
	idx, _ := filepath.Glob(filepath.Join(dir, "index*"))
	c := caches{source: dir}
	found := false
	for _, d := range idx {
		level := readTrim(filepath.Join(d, "level"))
		typ := readTrim(filepath.Join(d, "type"))
		size, ok := parseCacheSize(readTrim(filepath.Join(d, "size")))
		if !ok || typ == "Instruction" {
			continue
		}
		switch level {
		case "1":
			c.l1d = size
		case "2":
			c.l2 = size
		case "3":
			c.l3 = size
		default:
			continue
		}
		found = true
	}
	return c, found
}

// thpMode reads the selected mode of "always [madvise] never".
func thpMode(s string) string {
	if _, rest, ok := strings.Cut(s, "["); ok {
		if mode, _, ok := strings.Cut(rest, "]"); ok {
			return mode
		}
	}
	return ""
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// parseCacheSize reads sysfs sizes: "48K", "1024K", "32M", "512".
func parseCacheSize(s string) (int64, bool) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n * mult, true
}
