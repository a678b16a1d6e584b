package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Agent is the seccomp agent of one container being recorded. runc
// connects to its socket once per process it starts in the container (the
// entrypoint, then each exec session) and hands over the notification
// descriptor of the filter it loaded; the agent lets every notified call
// go on after recording it.
type Agent struct {
	Listener *net.UnixListener
	Log      *slog.Logger
	// Save writes the recording. It is called when the last process of
	// the container is gone, on SIGTERM or SIGINT, and every SaveEvery
	// while the container runs if something new was seen.
	Save      func(*Recording) error
	SaveEvery time.Duration
	// ConnectTimeout bounds the wait for runc's first connection: a
	// create that failed before it never comes.
	ConnectTimeout time.Duration
}

type listener struct {
	fd  int
	pid int
}

// Run serves the container until its processes are gone.
func (a *Agent) Run() error {
	rec := newRecording(MaxSize, func() {
		a.Log.Warn("the recording is full: what the container does for the first time from now on is not recorded, and the recorded profile says so", "maxBytes", MaxSize)
	})
	obs := newObserver(rec)
	listeners := make(chan listener)
	go a.accept(listeners)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	save := time.NewTicker(a.SaveEvery)
	defer save.Stop()
	connect := time.NewTimer(a.ConnectTimeout)
	defer connect.Stop()

	done := make(chan error)
	active, served, saved := 0, 0, 0
	for {
		select {
		case l := <-listeners:
			connect.Stop()
			obs.expect(l.pid)
			active++
			served++
			go func() { done <- serve(l.fd, obs) }()
			a.Log.Info("recording process", "pid", l.pid)
		case err := <-done:
			active--
			if err != nil {
				a.Log.Error("seccomp listener failed; the processes it served get ENOSYS", "err", err)
			}
			if active == 0 {
				return a.finish(rec, "container gone", "processes", served)
			}
		case <-connect.C:
			return fmt.Errorf("runc did not connect within %v: the container was not created", a.ConnectTimeout)
		case s := <-signals:
			return a.finish(rec, "stopping", "signal", s.String())
		case <-save.C:
			if n := rec.changes(); n != saved {
				if err := a.Save(rec); err != nil {
					a.Log.Error("writing the recording", "err", err)
				}
				saved = n
			}
		}
	}
}

// finish writes the recording, unless the container did nothing at all
// (it was deleted before it started, say): that would replace an earlier
// recording with an empty one.
func (a *Agent) finish(rec *Recording, why string, args ...any) error {
	if rec.changes() == 0 {
		a.Log.Info(why+"; nothing was recorded, nothing written", args...)
		return nil
	}
	if n := rec.Dropped(); n > 0 {
		args = append(args, "dropped", n)
	}
	a.Log.Info(why+"; writing the recording", args...)
	return a.Save(rec)
}

// accept receives runc's connections, each a state message with the
// notification descriptor, until the listener is closed with the process.
func (a *Agent) accept(out chan<- listener) {
	for {
		conn, err := a.Listener.AcceptUnix()
		if err != nil {
			a.Log.Error("accepting runc's connection", "err", err)
			return
		}
		l, err := receive(conn)
		conn.Close()
		if err != nil {
			a.Log.Error("receiving runc's seccomp descriptor", "err", err)
			continue
		}
		out <- l
	}
}

// receive reads the container process state and the descriptor that runc
// sends on one connection.
func receive(conn *net.UnixConn) (listener, error) {
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return listener{}, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return listener{}, err
	}
	var fds []int
	for _, m := range msgs {
		rights, err := unix.ParseUnixRights(&m)
		if err == nil {
			fds = append(fds, rights...)
		}
	}
	var state specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &state); err != nil {
		closeAll(fds)
		return listener{}, fmt.Errorf("container process state: %w", err)
	}
	for i, name := range state.Fds {
		if name == specs.SeccompFdName && i < len(fds) {
			fd := fds[i]
			closeAll(append(fds[:i:i], fds[i+1:]...))
			return listener{fd: fd, pid: state.Pid}, nil
		}
	}
	closeAll(fds)
	return listener{}, fmt.Errorf("no %s among the descriptors %q", specs.SeccompFdName, state.Fds)
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// serve answers the notifications of one filter until no process uses it.
// The kernel reports that as POLLHUP: a blocked receive would never
// return.
func serve(fd int, obs *observer) error {
	defer unix.Close(fd)
	// Each notified call is a round trip between the caller and this
	// goroutine: have the kernel wake the agent on the caller's CPU
	// (Linux 6.6). Older kernels refuse the flag and wake it the usual way.
	unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	type syscallKey struct {
		arch seccomp.ScmpArch
		nr   seccomp.ScmpSyscall
	}
	names := map[syscallKey]string{} // saves a libseccomp lookup per call
	for {
		events := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(events, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("poll: %w", err)
		}
		if events[0].Revents&unix.POLLIN == 0 {
			return nil
		}
		req, err := seccomp.NotifReceive(seccomp.ScmpFd(fd))
		if errors.Is(err, unix.ENOENT) {
			continue // the caller died before the receive
		}
		if err != nil {
			return fmt.Errorf("receiving a notification: %w", err)
		}
		key := syscallKey{req.Data.Arch, req.Data.Syscall}
		name, ok := names[key]
		if !ok {
			name, _ = req.Data.Syscall.GetNameByArch(req.Data.Arch)
			names[key] = name
		}
		if name != "" {
			c := call{pid: int(req.Pid), name: name}
			copy(c.args[:], req.Data.Args)
			obs.observe(c)
		}
		resp := &seccomp.ScmpNotifResp{ID: req.ID, Flags: seccomp.NotifRespFlagContinue}
		if err := seccomp.NotifRespond(seccomp.ScmpFd(fd), resp); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("answering a notification: %w", err)
		}
	}
}
