// Package audit reads the kernel's audit records of the accesses that
// podlock's confinement denies, and tells which pod and container each
// belongs to.
//
// Landlock (ABI 7) and seccomp report denials through the audit
// subsystem. Without an audit daemon the kernel prints them to its log,
// rate-limited and lossy; Conn registers as the audit daemon instead and
// receives every record over the audit netlink socket. Records of one
// system call share a serial number and end with an end-of-event record:
// the Landlock access (what was denied, where), the Landlock domain (who
// created it, the first time it denies) and the system call (which process).
package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Audit netlink message types (linux/audit.h).
const (
	msgGet             = 1000
	msgSet             = 1001
	typeSyscall        = 1300
	typeEOE            = 1320
	typeSeccomp        = 1326
	typeLandlockAccess = 1423
	typeLandlockDom    = 1424
)

// status is struct audit_status.
type status struct {
	Mask, Enabled, Failure, PID, RateLimit, BacklogLimit, Lost, Backlog uint32
	Feature, BacklogWaitTime, BacklogWaitTimeActual                     uint32
}

const (
	statusEnabled      = 1 << 0
	statusPID          = 1 << 2
	statusBacklogLimit = 1 << 4
)

// backlogLimit is how many records the kernel queues for the daemon: the
// default (64) overflows, and loses records, when a seccomp filter logs
// every system call of a busy program.
const backlogLimit = 8192

// Conn is the audit daemon's end of the audit netlink socket.
type Conn struct {
	fd     int
	prev   status
	buf    []byte
	closed atomic.Bool
}

// ErrOtherDaemon means an audit daemon, such as auditd, already receives
// the records.
var ErrOtherDaemon = errors.New("another audit daemon receives the kernel's audit records")

// ErrClosed is returned by Receive once Close was called.
var ErrClosed = errors.New("audit connection closed")

// Listen enables auditing and registers the calling process as the audit
// daemon. It needs CAP_AUDIT_CONTROL. Close restores what it changed.
func Listen() (*Conn, error) {
	c, err := dial()
	if err != nil {
		return nil, err
	}
	if c.prev, err = c.status(); err != nil {
		c.close()
		return nil, err
	}
	if c.prev.PID != 0 && c.prev.PID != uint32(os.Getpid()) && unix.Kill(int(c.prev.PID), 0) == nil {
		c.close()
		return nil, fmt.Errorf("%w (pid %d): podlock-node cannot report denials while it runs", ErrOtherDaemon, c.prev.PID)
	}
	// The kernel sends records to the socket that registered.
	if err := c.set(status{Mask: statusEnabled | statusPID | statusBacklogLimit, Enabled: 1, PID: uint32(os.Getpid()), BacklogLimit: max(c.prev.BacklogLimit, backlogLimit)}); err != nil {
		c.close()
		return nil, fmt.Errorf("registering as the audit daemon: %w", err)
	}
	// Wake Receive now and then, to notice Close.
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200_000}); err != nil {
		c.Close()
		return nil, fmt.Errorf("audit netlink socket: %w", err)
	}
	return c, nil
}

func dial() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return nil, fmt.Errorf("opening the audit netlink socket: %w", err)
	}
	c := &Conn{fd: fd, buf: make([]byte, unix.NLMSG_HDRLEN+8970)}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		c.close()
		return nil, fmt.Errorf("binding the audit netlink socket: %w", err)
	}
	return c, nil
}

// Close stops receiving records and puts auditing back as it was. It may
// be called while Receive waits, which then returns ErrClosed.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	// A socket of its own: the records' socket may be in Receive.
	ctl, err := dial()
	if err == nil {
		err = ctl.set(status{Mask: statusEnabled | statusPID | statusBacklogLimit, Enabled: c.prev.Enabled, PID: 0, BacklogLimit: c.prev.BacklogLimit})
		ctl.close()
	}
	if err != nil {
		err = fmt.Errorf("restoring the audit status: %w", err)
	}
	// The socket itself is closed by Receive, or now if nobody reads.
	return err
}

func (c *Conn) close() error { return unix.Close(c.fd) }

// Receive returns the next record, waiting for it.
func (c *Conn) Receive() (Record, error) {
	for {
		if c.closed.Load() {
			c.close()
			return Record{}, ErrClosed
		}
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return Record{}, fmt.Errorf("receiving audit records: %w", err)
		}
		if n < unix.NLMSG_HDRLEN {
			continue
		}
		typ := binary.NativeEndian.Uint16(c.buf[4:6])
		switch typ {
		case typeSyscall, typeEOE, typeSeccomp, typeLandlockAccess, typeLandlockDom:
		default:
			continue // replies, and records that say nothing of denials
		}
		// The kernel's audit messages leave the header out of their
		// length: take the whole datagram.
		return ParseRecord(typ, c.buf[unix.NLMSG_HDRLEN:n])
	}
}

func (c *Conn) request(typ uint16, payload []byte) error {
	msg := make([]byte, unix.NLMSG_HDRLEN+len(payload))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], typ)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	copy(msg[unix.NLMSG_HDRLEN:], payload)
	return unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

func (c *Conn) status() (status, error) {
	if err := c.request(msgGet, nil); err != nil {
		return status{}, fmt.Errorf("reading the audit status: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return status{}, fmt.Errorf("reading the audit status: %w", err)
		}
		typ := binary.NativeEndian.Uint16(c.buf[4:6])
		switch {
		case typ == unix.NLMSG_ERROR && n >= unix.NLMSG_HDRLEN+4:
			if errno := int32(binary.NativeEndian.Uint32(c.buf[unix.NLMSG_HDRLEN:])); errno != 0 {
				return status{}, fmt.Errorf("reading the audit status: %w", unix.Errno(-errno))
			}
		case typ == msgGet:
			var s status
			copy((*[unsafe.Sizeof(s)]byte)(unsafe.Pointer(&s))[:], c.buf[unix.NLMSG_HDRLEN:n])
			return s, nil
		}
	}
}

func (c *Conn) set(s status) error {
	if err := c.request(msgSet, (*[unsafe.Sizeof(s)]byte)(unsafe.Pointer(&s))[:]); err != nil {
		return err
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return err
		}
		if binary.NativeEndian.Uint16(c.buf[4:6]) == unix.NLMSG_ERROR && n >= unix.NLMSG_HDRLEN+4 {
			if errno := int32(binary.NativeEndian.Uint32(c.buf[unix.NLMSG_HDRLEN:])); errno != 0 {
				return unix.Errno(-errno)
			}
			return nil
		}
	}
}
