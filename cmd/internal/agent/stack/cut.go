package stack

import (
	"io"
	"net"
	"sync"
)

// Cut is a TCP forwarder standing for a terminal's network link: Down cuts
// every connection and refuses new ones (the shop's line is down), Up
// restores it.
type Cut struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewCut listens on a loopback port and forwards to target.
func NewCut(target string) (*Cut, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &Cut{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	c.wg.Add(1)
	go c.accept()
	return c, nil
}

// Addr is the address to dial instead of the target.
func (c *Cut) Addr() string { return c.ln.Addr().String() }

// Down cuts the link.
func (c *Cut) Down() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
	for conn := range c.conns {
		conn.Close()
	}
}

// Up restores the link.
func (c *Cut) Up() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = false
}

// Close stops forwarding.
func (c *Cut) Close() {
	c.ln.Close()
	c.Down()
	c.wg.Wait()
}

func (c *Cut) accept() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		down := c.down
		c.mu.Unlock()
		if down {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			continue
		}
		if !c.track(in, out) {
			continue
		}
		c.wg.Add(2)
		go c.pipe(in, out)
		go c.pipe(out, in)
	}
}

func (c *Cut) track(conns ...net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		for _, x := range conns {
			x.Close()
		}
		return false
	}
	for _, x := range conns {
		c.conns[x] = struct{}{}
	}
	return true
}

func (c *Cut) pipe(dst, src net.Conn) {
	defer c.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	c.mu.Lock()
	delete(c.conns, dst)
	delete(c.conns, src)
	c.mu.Unlock()
}
