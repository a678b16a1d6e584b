package audit

// DaemonPID returns the process ID of the kernel's audit daemon, the
// process whose socket receives the audit records (0: none), as the
// caller's PID namespace sees it. It needs CAP_AUDIT_CONTROL and the
// host's PID namespace.
func DaemonPID() (int, error) {
	c, err := dial()
	if err != nil {
		return 0, err
	}
	defer c.close()
	s, err := c.status()
	if err != nil {
		return 0, err
	}
	return int(s.PID), nil
}
