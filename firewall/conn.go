package firewall

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by a Conn's methods after Close.
var ErrClosed = errors.New("firewall: connection closed")

// Conn is netlab's nftables connection to one network namespace. It is
// safe for concurrent use; its methods run one at a time.
type Conn struct {
	mu     sync.Mutex
	fd     int
	nft    *nftables.Conn
	sock   *netlink.Conn
	closed bool
}

// Open connects to nftables inside ns. The Conn keeps its own duplicate of
// the handle (the caller may close ns), and one netlink socket created in
// the namespace; Close releases both (an open socket keeps a namespace
// alive).
func Open(ns netns.NsHandle) (*Conn, error) {
	// At least 3: nftables treats a namespace fd of 0 as "this namespace".
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("firewall: duplicate namespace handle: %w", err)
	}
	c := &Conn{fd: fd}
	c.nft, err = nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting(),
		nftables.WithSockOptions(func(s *netlink.Conn) error { c.sock = s; return nil }))
	if err == nil && c.sock == nil {
		err = errors.New("no netlink socket")
	}
	if err != nil {
		if c.nft != nil {
			_ = c.nft.CloseLasting()
		}
		unix.Close(fd)
		return nil, fmt.Errorf("firewall: open nftables socket in the namespace: %w", err)
	}
	return c, nil
}

// Close releases the socket and the namespace handle. It is safe to call
// twice.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.nft.CloseLasting()
	// After CloseLasting the library would dial a new socket for every
	// call; closed guards against that, and the fd goes.
	return errors.Join(err, unix.Close(c.fd))
}

// do runs fn with the lock held, honouring ctx: its deadline becomes the
// socket's, and cancelling it interrupts a pending receive.
func (c *Conn) do(ctx context.Context, what string, fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("firewall: %s: %w", what, err)
	}
	deadline, _ := ctx.Deadline()
	_ = c.sock.SetDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = c.sock.SetDeadline(time.Unix(1, 0))
	})
	err := fn()
	if !stop() {
		<-fired
	}
	_ = c.sock.SetDeadline(time.Time{})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = errors.Join(cerr, err)
		}
		return fmt.Errorf("firewall: %s: %w", what, err)
	}
	return nil
}

// ensure queues the table and its base chains (nft add: no error when
// they exist with the same hooks).
func (c *Conn) ensure(t Table) *nftables.Table {
	tab := c.nft.AddTable(&nftables.Table{Family: t.Family, Name: t.Name})
	for _, ch := range t.chains() {
		hook := nftables.ChainHook(hookOf(ch))
		prio := t.priority()
		policy := nftables.ChainPolicyAccept
		c.nft.AddChain(&nftables.Chain{Name: string(ch), Table: tab, Type: nftables.ChainTypeFilter,
			Hooknum: &hook, Priority: &prio, Policy: &policy})
	}
	return tab
}

// hookOf is a chain's hook number: NF_INET_LOCAL_IN, ..._LOCAL_OUT,
// ..._FORWARD (the bridge family's NF_BR_LOCAL_IN/OUT/FORWARD have the
// same numbers).
func hookOf(ch Chain) uint32 {
	switch ch {
	case Input:
		return unix.NF_INET_LOCAL_IN
	case Output:
		return unix.NF_INET_LOCAL_OUT
	}
	return unix.NF_INET_FORWARD
}

// Ensure creates the tables with their base chains, as they are before any
// rule is added; tables that exist are left as they are.
func (c *Conn) Ensure(ctx context.Context, tables ...Table) error {
	return c.do(ctx, "create tables", func() error {
		for _, t := range tables {
			c.ensure(t)
		}
		return c.nft.Flush()
	})
}

// Apply appends rules to their chains (creating the tables and chains they
// need) in one transaction: either every rule is in place afterwards, or
// none was added.
func (c *Conn) Apply(ctx context.Context, opts Options, rules ...Rule) error {
	type built struct {
		t     Table
		r     Rule
		exprs []expr.Any
	}
	var bs []built
	for i, r := range rules {
		t := opts.TableOf(r)
		es, err := buildExprs(t, r)
		if err != nil {
			return fmt.Errorf("firewall: rule %d (%s): %w", i, r.Comment, err)
		}
		bs = append(bs, built{t, r, es})
	}
	return c.do(ctx, "add rules", func() error {
		tables := map[Table]*nftables.Table{}
		for _, b := range bs {
			tab, ok := tables[b.t]
			if !ok {
				tab = c.ensure(b.t)
				tables[b.t] = tab
			}
			nr := &nftables.Rule{Table: tab, Chain: &nftables.Chain{Name: string(b.r.Chain), Table: tab}, Exprs: b.exprs}
			if b.r.Comment != "" {
				nr.UserData = userdata.AppendString(nil, userdata.TypeComment, b.r.Comment)
			}
			c.nft.AddRule(nr)
		}
		return c.nft.Flush()
	})
}

// Entry is one rule found in netlab's tables.
type Entry struct {
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	Handle uint64 `json:"handle"`
	// Rule is the decoded rule; nil for a rule netlab did not make (added
	// by hand with nft, say), which Text then describes.
	Rule    *Rule  `json:"rule,omitempty"`
	Text    string `json:"text"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	Comment string `json:"comment,omitempty"`
}

// List returns the rules of netlab's tables, table by table (inet, then
// bridge), chain by chain, in the kernel's order, with their counters. No
// table means no rules.
func (c *Conn) List(ctx context.Context) ([]Entry, error) {
	out := []Entry{}
	err := c.do(ctx, "list rules", func() error {
		for _, t := range []Table{Inet, Bridge} {
			tab, err := c.table(t)
			if err != nil {
				return err
			}
			if tab == nil {
				continue
			}
			chains, err := c.nft.ListChainsOfTableFamily(t.Family)
			if err != nil {
				return fmt.Errorf("list chains of %s: %w", t, err)
			}
			for _, ch := range chains {
				if ch.Table == nil || ch.Table.Name != t.Name {
					continue
				}
				rules, err := c.nft.GetRules(tab, ch)
				if err != nil {
					return fmt.Errorf("list %s %s: %w", t, ch.Name, err)
				}
				for _, nr := range rules {
					e := Entry{Table: t.String(), Chain: ch.Name, Handle: nr.Handle}
					e.Comment, _ = userdata.GetString(nr.UserData, userdata.TypeComment)
					r, packets, bytes, err := decode(t, Chain(ch.Name), nr.Exprs)
					if err == nil {
						r.Comment = e.Comment
						e.Rule, e.Text, e.Packets, e.Bytes = &r, r.Text(t), packets, bytes
					} else {
						e.Text = fmt.Sprintf("(%s: %d expressions; nft list table %s shows it)", err, len(nr.Exprs), t)
					}
					out = append(out, e)
				}
			}
		}
		return nil
	})
	return out, err
}

// table returns netlab's table t, or nil if it does not exist.
func (c *Conn) table(t Table) (*nftables.Table, error) {
	tabs, err := c.nft.ListTablesOfFamily(t.Family)
	if err != nil {
		return nil, fmt.Errorf("list %s tables: %w", familyName(t.Family), err)
	}
	for _, tab := range tabs {
		if tab.Name == t.Name {
			return tab, nil
		}
	}
	return nil, nil
}

// Flush removes every rule from netlab's tables and keeps the tables and
// their (empty, accepting) chains, like nft flush table. Tables that do
// not exist are skipped.
func (c *Conn) Flush(ctx context.Context) error {
	return c.do(ctx, "flush rules", func() error {
		for _, t := range []Table{Inet, Bridge} {
			tab, err := c.table(t)
			if err != nil {
				return err
			}
			if tab != nil {
				c.nft.FlushTable(tab)
			}
		}
		return c.nft.Flush()
	})
}

// Delete removes netlab's tables (with their chains and rules) from the
// namespace; tables that do not exist are skipped. netlab down calls it so
// the rules go even while some process holds the namespace open.
func (c *Conn) Delete(ctx context.Context) error {
	return c.do(ctx, "delete tables", func() error {
		n := 0
		for _, t := range []Table{Inet, Bridge} {
			tab, err := c.table(t)
			if err != nil {
				return err
			}
			if tab != nil {
				c.nft.DelTable(tab)
				n++
			}
		}
		if n == 0 {
			return nil
		}
		return c.nft.Flush()
	})
}
