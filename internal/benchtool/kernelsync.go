package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	mnl "github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// rtnlgrpNSID is RTNLGRP_NSID: RTM_NEWNSID/RTM_DELNSID notifications.
const rtnlgrpNSID = 28

// kernelSync tells when the kernel has finished destroying the network
// namespaces deleted so far. A deleted namespace is only unnamed at once;
// the kernel destroys it later in a work item of its "netns" workqueue,
// which is ordered, and each work item takes every namespace waiting at
// that moment. When a namespace that has an id in the root namespace is
// destroyed, the root namespace is sent RTM_DELNSID for that id as the
// work item begins. So: a probe namespace made and deleted now, with an
// id, is destroyed in the batch with the bench's namespaces or in a later
// one (its DELNSID says that batch has begun); a second probe made after
// that DELNSID is destroyed in a later batch than the first, which starts
// only when the first has finished. Its DELNSID therefore says that
// everything deleted before the first probe is gone.
//
// Probes are namespaces named <prefix><k> that the bench makes and
// deletes; nothing else is touched. The root namespace gets an id for each
// probe, which the kernel drops when the probe is destroyed.
type kernelSync struct {
	conn   *mnl.Conn
	h      *vnl.Handle
	prefix string
	seq    int
}

func newKernelSync(prefix string) (*kernelSync, error) {
	c, err := mnl.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("kernel sync: netlink: %w", err)
	}
	if err := c.JoinGroup(rtnlgrpNSID); err != nil {
		c.Close()
		return nil, fmt.Errorf("kernel sync: join RTNLGRP_NSID: %w", err)
	}
	_ = c.SetReadBuffer(1 << 20)
	h, err := vnl.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("kernel sync: netlink handle: %w", err)
	}
	return &kernelSync{conn: c, h: h, prefix: prefix}, nil
}

// Close is safe twice.
func (k *kernelSync) Close() {
	if k.conn != nil {
		k.conn.Close()
		k.conn = nil
	}
	if k.h != nil {
		k.h.Close()
		k.h = nil
	}
}

// wait returns once everything deleted before it was called is destroyed
// (two probes, see kernelSync), and how long that took.
func (k *kernelSync) wait(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i := 0; i < 2; i++ {
		if err := k.probe(ctx); err != nil {
			return time.Since(start), err
		}
	}
	return time.Since(start), nil
}

// probe makes a namespace, gives it an id in the root namespace, deletes it
// and waits for the RTM_DELNSID of that id.
func (k *kernelSync) probe(ctx context.Context) error {
	name := fmt.Sprintf("%s%d", k.prefix, k.seq)
	k.seq++
	if _, _, err := runProc(ctx, command(ctx, "ip", "netns", "add", name)); err != nil {
		return fmt.Errorf("kernel sync: %w", err)
	}
	deleted := false
	defer func() {
		if !deleted {
			_ = exec2(context.Background(), "ip", "netns", "del", name)
		}
	}()
	id, err := k.assignID(name)
	if err != nil {
		return err
	}
	// Drop notifications queued so far: an old DELNSID of a namespace that
	// had the same id before must not count.
	if err := k.drain(); err != nil {
		return err
	}
	if _, _, err := runProc(ctx, command(ctx, "ip", "netns", "del", name)); err != nil {
		return fmt.Errorf("kernel sync: %w", err)
	}
	deleted = true
	return k.awaitDel(ctx, id)
}

func (k *kernelSync) assignID(name string) (int32, error) {
	f, err := os.Open(filepath.Join(netnsDir, name))
	if err != nil {
		return 0, fmt.Errorf("kernel sync: probe %s: %w", name, err)
	}
	defer f.Close()
	if err := k.h.SetNetNsIdByFd(int(f.Fd()), -1); err != nil {
		return 0, fmt.Errorf("kernel sync: probe %s: set nsid: %w", name, err)
	}
	id, err := k.h.GetNetNsIdByFd(int(f.Fd()))
	if err != nil {
		return 0, fmt.Errorf("kernel sync: probe %s: get nsid: %w", name, err)
	}
	if id < 0 {
		return 0, fmt.Errorf("kernel sync: probe %s: no nsid assigned", name)
	}
	return int32(id), nil
}

func (k *kernelSync) drain() error {
	for {
		if err := k.conn.SetReadDeadline(time.Now()); err != nil {
			return fmt.Errorf("kernel sync: %w", err)
		}
		if _, err := k.conn.Receive(); err != nil {
			if isTimeout(err) {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				continue
			}
			return fmt.Errorf("kernel sync: drain: %w", err)
		}
	}
}

func (k *kernelSync) awaitDel(ctx context.Context, id int32) error {
	for {
		dl, _ := ctx.Deadline()
		if err := k.conn.SetReadDeadline(dl); err != nil {
			return fmt.Errorf("kernel sync: %w", err)
		}
		msgs, err := k.conn.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				// Overrun: ours may be lost; a lost one ends in the timeout.
				continue
			}
			if isTimeout(err) || ctx.Err() != nil {
				return fmt.Errorf("kernel sync: nsid %d: not destroyed in time: %w", id, context.DeadlineExceeded)
			}
			return fmt.Errorf("kernel sync: receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type == unix.RTM_DELNSID && delNSID(m.Data) == id {
				return nil
			}
		}
	}
}

// delNSID is the NETNSA_NSID of an RTM_NEWNSID/RTM_DELNSID payload (struct
// rtgenmsg, padded to 4 bytes, then attributes), or -1.
func delNSID(data []byte) int32 {
	if len(data) < 4 {
		return -1
	}
	ad, err := mnl.NewAttributeDecoder(data[4:])
	if err != nil {
		return -1
	}
	ad.ByteOrder = binary.NativeEndian
	for ad.Next() {
		if ad.Type() == unix.NETNSA_NSID {
			return int32(ad.Uint32())
		}
	}
	return -1
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// exec2 runs argv, ignoring its output.
func exec2(ctx context.Context, argv ...string) error {
	_, _, err := runProc(ctx, command(ctx, argv...))
	return err
}
