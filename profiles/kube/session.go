package kube

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
)

// sessionCache keeps TLS sessions on disk so that the next podlock-runtime
// process, one per container creation, resumes the session instead of a
// full handshake with the API server: no certificate signature to compute
// on the server and none to verify here, which is most of a cold request's
// cost. A session is as secret as a key: the file is root's alone, and a
// file that cannot be read or parsed only costs a full handshake.
type sessionCache struct {
	dir string
}

func (c sessionCache) file(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(c.dir, "tls-session-"+hex.EncodeToString(sum[:8]))
}

// Get implements tls.ClientSessionCache.
func (c sessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	data, err := os.ReadFile(c.file(key))
	if err != nil || len(data) < 4 {
		return nil, false
	}
	n := binary.BigEndian.Uint32(data)
	if uint64(n) > uint64(len(data)-4) {
		return nil, false
	}
	ticket, stateBytes := data[4:4+n], data[4+n:]
	state, err := tls.ParseSessionState(stateBytes)
	if err != nil {
		return nil, false
	}
	cs, err := tls.NewResumptionState(ticket, state)
	if err != nil {
		return nil, false
	}
	return cs, true
}

// Put implements tls.ClientSessionCache.
func (c sessionCache) Put(key string, cs *tls.ClientSessionState) {
	if cs == nil {
		os.Remove(c.file(key))
		return
	}
	if err := c.put(key, cs); err != nil {
		os.Remove(c.file(key))
	}
}

func (c sessionCache) put(key string, cs *tls.ClientSessionState) error {
	ticket, state, err := cs.ResumptionState()
	if err != nil {
		return err
	}
	if state == nil {
		return errors.New("no session state")
	}
	stateBytes, err := state.Bytes()
	if err != nil {
		return err
	}
	data := binary.BigEndian.AppendUint32(nil, uint32(len(ticket)))
	data = append(append(data, ticket...), stateBytes...)
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	// Not synced: losing a session to a crash costs one full handshake.
	tmp, err := os.CreateTemp(c.dir, ".tls-session-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.file(key))
}
