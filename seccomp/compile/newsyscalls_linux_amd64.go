//go:build cgo && linux

package compile

import "golang.org/x/sys/unix"

// uretprobe exists on x86_64 only (Linux 6.11).
func init() { newSyscalls["uretprobe"] = unix.SYS_URETPROBE }
