package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"github.com/netlabdev/netlab/internal/nsutil"
)

// DefaultConnectTimeout bounds a TCP flow's connect (and the final
// exchange of counts) when TCPOptions.ConnectTimeout is zero.
const DefaultConnectTimeout = 5 * time.Second

// TCPOptions configure TCPFlow: the client sends Bytes bytes, or for
// Duration, whichever ends first (at least one of them is required).
type TCPOptions struct {
	Addr           netip.Addr    // the server's address (one of the server namespace's)
	Port           int           // 0: a free port
	Bytes          int64         // bytes to send; 0: Duration decides
	Duration       time.Duration // how long to send; 0: Bytes decides
	Source         netip.Addr    // the client's address; zero: the kernel's choice
	ConnectTimeout time.Duration // 0: DefaultConnectTimeout
}

// Check reports options that can never work. Errors wrap ErrInvalid.
func (o TCPOptions) Check() error {
	switch {
	case !o.Addr.IsValid() || o.Addr.IsUnspecified():
		return fmt.Errorf("%w: tcp flow needs the server's address", ErrInvalid)
	case o.Port < 0 || o.Port > 65535:
		return fmt.Errorf("%w: port %d: want 0..65535", ErrInvalid, o.Port)
	case o.Bytes < 0 || o.Duration < 0 || o.ConnectTimeout < 0:
		return fmt.Errorf("%w: negative bytes, duration or connect timeout", ErrInvalid)
	case o.Bytes == 0 && o.Duration == 0:
		return fmt.Errorf("%w: tcp flow needs a byte count or a duration", ErrInvalid)
	case o.Source.IsValid() && o.Source.Unmap().Is4() != o.Addr.Unmap().Is4():
		return fmt.Errorf("%w: source %s and server %s are of different families", ErrInvalid, o.Source, o.Addr)
	}
	return nil
}

// TCPResult is a finished flow.
type TCPResult struct {
	Server        string    `json:"server"` // address:port
	Client        string    `json:"client"`
	BytesSent     int64     `json:"bytes_sent"`     // what the client wrote
	BytesReceived int64     `json:"bytes_received"` // what the server read, as it reported back
	Started       time.Time `json:"started"`        // when the connection was established
	DurationMS    int64     `json:"duration_ms"`    // from established to the server's count arriving
	// ThroughputBPS is BytesReceived*8 over the duration, bits per second.
	ThroughputBPS float64 `json:"throughput_bps"`
}

// TCPFlow listens on o.Addr inside server, connects from inside client and
// sends data until o.Bytes were sent or o.Duration passed; the client then
// half-closes, and the server, having read to the end, reports its byte
// count back over the same connection. Both sockets and the server's
// goroutine are gone when it returns.
func TCPFlow(ctx context.Context, server, client netns.NsHandle, o TCPOptions) (*TCPResult, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	laddr := netip.AddrPortFrom(o.Addr.Unmap(), uint16(o.Port)).String()
	var ln net.Listener
	if err := nsutil.Do(server, func() error {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", laddr)
		return err
	}); err != nil {
		return nil, fmt.Errorf("tcp flow: listen on %s: %w", laddr, err)
	}
	srvAddr := ln.Addr().String()

	// The server: accept one connection, read to EOF, report the count.
	type served struct {
		n   int64
		err error
	}
	srv := make(chan served, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			srv <- served{err: fmt.Errorf("accept: %w", err)}
			return
		}
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
		defer stop()
		n, err := io.Copy(io.Discard, c)
		if err == nil {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(n))
			_, err = c.Write(b[:])
		}
		srv <- served{n, err}
	}()
	res, err := tcpClient(ctx, client, srvAddr, o)
	// Whatever the client did, the server goroutine must end: closing the
	// listener ends an Accept still waiting (the client never connected).
	lerr := ln.Close()
	wg.Wait()
	s := <-srv
	if err != nil {
		return nil, fmt.Errorf("tcp flow to %s: %w", srvAddr, err)
	}
	if s.err != nil {
		return nil, fmt.Errorf("tcp flow to %s: server: %w", srvAddr, s.err)
	}
	if lerr != nil {
		return nil, fmt.Errorf("tcp flow to %s: close listener: %w", srvAddr, lerr)
	}
	if s.n != res.BytesReceived {
		return nil, fmt.Errorf("tcp flow to %s: the server counted %d bytes but reported %d", srvAddr, s.n, res.BytesReceived)
	}
	return res, nil
}

func tcpClient(ctx context.Context, ns netns.NsHandle, srvAddr string, o TCPOptions) (*TCPResult, error) {
	d := net.Dialer{Timeout: o.ConnectTimeout}
	if o.Source.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(o.Source.Unmap(), 0))
	}
	var c net.Conn
	if err := nsutil.Do(ns, func() error {
		var err error
		c, err = d.DialContext(ctx, "tcp", srvAddr)
		return err
	}); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	tc := c.(*net.TCPConn)
	res := &TCPResult{Server: srvAddr, Client: c.LocalAddr().String(), Started: time.Now()}
	var end time.Time
	if o.Duration > 0 {
		end = res.Started.Add(o.Duration)
		if err := c.SetWriteDeadline(end); err != nil {
			return nil, err
		}
	}
	buf := make([]byte, 64<<10)
	for o.Bytes == 0 || res.BytesSent < o.Bytes {
		b := buf
		if o.Bytes > 0 {
			b = buf[:min(int64(len(buf)), o.Bytes-res.BytesSent)]
		}
		n, err := c.Write(b)
		res.BytesSent += int64(n)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && !end.IsZero() && !time.Now().Before(end) {
				break // the duration is over
			}
			return nil, fmt.Errorf("send: %w", err)
		}
	}
	if err := tc.CloseWrite(); err != nil {
		return nil, fmt.Errorf("half-close: %w", err)
	}
	if err := c.SetDeadline(time.Now().Add(o.ConnectTimeout)); err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read the server's count: %w", err)
	}
	elapsed := time.Since(res.Started)
	res.BytesReceived = int64(binary.BigEndian.Uint64(b[:]))
	res.DurationMS = elapsed.Milliseconds()
	if elapsed > 0 {
		res.ThroughputBPS = float64(res.BytesReceived) * 8 / elapsed.Seconds()
	}
	return res, nil
}
