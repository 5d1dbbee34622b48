// Package faultproxy is a TCP proxy for tests that puts a network fault
// between a client and a server: it can pause all traffic, as a server
// stopped with SIGSTOP or a network that drops every packet would (the
// connections stay open, nothing arrives), and resume it, delivering what
// was held back.
//
//	p, err := faultproxy.Start("127.0.0.1:5432")
//	…connect the client to p.Addr()…
//	p.Pause()  // every call through the proxy now waits
//	p.Resume() // and goes on
package faultproxy

import (
	"net"
	"sync"
)

// Proxy forwards the TCP connections it accepts to a target address.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	resumed chan struct{} // open while paused; closed when traffic flows
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Start listens on a free loopback port and forwards every connection to
// target, dialled when the connection is accepted.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, resumed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.resumed)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address clients connect to, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Pause holds back every byte in both directions, on open connections and
// on those accepted while paused, until Resume. Connections stay open, as
// they do to a stopped server: the client sees no error, only silence.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resumed:
		p.resumed = make(chan struct{})
	default: // paused already
	}
}

// Resume lets traffic flow again, starting with what was held back.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resumed:
	default:
		close(p.resumed)
	}
}

// Close stops accepting, closes every connection and waits until the
// proxy's goroutines are done.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.Resume()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// track registers c for Close; it reports false (and closes c) once the
// proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

// gate returns when traffic may flow.
func (p *Proxy) gate() {
	p.mu.Lock()
	resumed := p.resumed
	p.mu.Unlock()
	<-resumed
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(client) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(client)
			p.gate() // a paused server answers no handshake either
			server, err := net.Dial("tcp", p.target)
			if err != nil || !p.track(server) {
				return
			}
			defer p.untrack(server)
			done := make(chan struct{}, 2)
			go p.pump(server, client, done)
			go p.pump(client, server, done)
			<-done // one side ended: end both
		}()
	}
}

// pump copies src to dst, holding each chunk while the proxy is paused.
func (p *Proxy) pump(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
