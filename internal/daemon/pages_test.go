//go:build linux

package daemon

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// exeRSS returns the KB of the test binary's read-only mappings that are
// mapped in this process, from /proc/self/smaps.
func exeRSS(t testing.TB) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, ours := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 6 && len(fields[1]) == 4 && strings.Contains(fields[0], "-"):
			ours = fields[5] == exe && fields[1][1] != 'w'
		case ours && len(fields) == 3 && fields[0] == "Rss:":
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatal(err)
			}
			total += kb
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// Releasing unmaps the binary's read-only pages, and the program runs on:
// what it touches next is mapped again from the page cache.
func TestReleaseStartupPages(t *testing.T) {
	before := exeRSS(t)
	if err := ReleaseStartupPages(); err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	t.Logf("read-only pages of the test binary mapped: %d KB before, %d KB after", before, after)
	// Reading smaps maps some pages again (a quarter of them under -race).
	if after > before*3/4 {
		t.Fatalf("%d KB mapped after releasing, want at most three quarters of the %d KB before", after, before)
	}
	// Code not run since the release (a closure made here) still runs.
	if got := strings.Repeat("ab", 3); got != "ababab" {
		t.Fatalf("got %q after releasing", got)
	}
}

// Only mappings that hold the file's own bytes are released: not a
// writable one, nor a read-only one written before it was made read-only
// (as a dynamic loader leaves relocated data), whose pages would come back
// as the file has them.
func TestReleaseKeepsWrittenMappings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 3*4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mapPage := func(prot int, offset int64) []byte {
		b, err := unix.Mmap(int(f.Fd()), offset, 4096, prot, unix.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Munmap(b) })
		return b
	}
	clean := mapPage(unix.PROT_READ, 0)
	_ = clean[0] // mapped, from the file
	written := mapPage(unix.PROT_READ|unix.PROT_WRITE, 4096)
	written[0] = 'y'
	if err := unix.Mprotect(written, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	writable := mapPage(unix.PROT_READ|unix.PROT_WRITE, 2*4096)
	_ = writable[0]

	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	smaps, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer smaps.Close()
	copies, err := fileCopies(smaps, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	if err != nil {
		t.Fatal(err)
	}
	start := func(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
	if len(copies) != 1 || copies[0].start != start(clean) {
		t.Fatalf("file copies %#v, want only the clean mapping at %#x (written at %#x, writable at %#x)",
			copies, start(clean), start(written), start(writable))
	}
}
