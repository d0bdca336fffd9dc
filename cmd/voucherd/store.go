package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/voucherpos/voucherpos/sync/boltstore"
	"github.com/voucherpos/voucherpos/sync/hub"
	"github.com/voucherpos/voucherpos/sync/issuing"
	"github.com/voucherpos/voucherpos/sync/pgstore"
)

// ledgerFlags choose the server's store: -data DIR (the embedded bbolt
// ledger) or -db URL (PostgreSQL, with the -key-file every instance shares).
type ledgerFlags struct {
	data, db, keyFile string
}

func (l *ledgerFlags) register(fs *flag.FlagSet, dataHelp string) {
	fs.StringVar(&l.data, "data", "", dataHelp)
	fs.StringVar(&l.db, "db", os.Getenv("VOUCHERD_DB"), "PostgreSQL URL (postgres://USER@HOST/DB) in place of -data (or $VOUCHERD_DB)")
	fs.StringVar(&l.keyFile, "key-file", os.Getenv("VOUCHERD_KEY_FILE"), "with -db: the file of the key sealing the issuing keys (or $VOUCHERD_KEY_FILE)")
}

// set reports whether -data or -db was given.
func (l *ledgerFlags) set() bool { return l.data != "" || l.db != "" }

// check refuses -data with -db, and -db without -key-file.
func (l *ledgerFlags) check(cmd string) error {
	switch {
	case l.data != "" && l.db != "":
		return usagef("%s: give -data DIR or -db URL, not both", cmd)
	case l.db != "" && l.keyFile == "":
		return usagef("%s: -db needs -key-file FILE (the key sealing the issuing keys; voucherd init -db makes it)", cmd)
	case !l.set():
		return usagef("%s: -data DIR or -db URL is required", cmd)
	}
	return nil
}

// openStore opens the chosen store (creating an embedded one with create).
func (l *ledgerFlags) openStore(ctx context.Context, create bool) (hub.Store, error) {
	if l.db != "" {
		return pgstore.Open(ctx, l.db, pgstore.Options{KeyFile: l.keyFile})
	}
	return boltstore.Open(l.data, boltstore.Options{Create: create})
}

// openHub starts a hub on the chosen store.
func (l *ledgerFlags) openHub(ctx context.Context, opts hub.Options) (*hub.Hub, error) {
	st, err := l.openStore(ctx, opts.Create)
	if err != nil {
		return nil, err
	}
	h, err := hub.New(st, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	return h, nil
}

// openServer starts the hub and the issuing side (claims) on the same
// store: the embedded file or the database.
func (l *ledgerFlags) openServer(ctx context.Context, hopts hub.Options, iopts issuing.Options) (*hub.Hub, *issuing.Service, error) {
	if l.db == "" {
		return boltstore.OpenServer(l.data, hopts, iopts)
	}
	st, err := pgstore.Open(ctx, l.db, pgstore.Options{KeyFile: l.keyFile})
	if err != nil {
		return nil, nil, err
	}
	h, err := hub.New(st, hopts)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	if iopts.Logf == nil {
		iopts.Logf = hopts.Logf
	}
	svc, err := issuing.OpenWith(st.Issuing(), h, iopts)
	if err != nil {
		_ = h.Close()
		return nil, nil, err
	}
	return h, svc, nil
}

// initStore prepares the chosen store: the embedded ledger is made by
// openHub; PostgreSQL gets its migrations (and the key file if missing).
func (l *ledgerFlags) initStore(ctx context.Context, stderr io.Writer) error {
	if l.db == "" {
		return nil
	}
	applied, err := pgstore.Migrate(ctx, l.db, pgstore.Options{KeyFile: l.keyFile})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(stderr, "voucherd: database schema up to date")
	}
	for _, v := range applied {
		fmt.Fprintf(stderr, "voucherd: applied migration %04d\n", v)
	}
	return nil
}

// where names the store for messages.
func (l *ledgerFlags) where() string {
	if l.db != "" {
		return "the database"
	}
	return l.data
}

func cmdCheck(args []string, stdout io.Writer) error {
	fs := newFlags("check")
	data := fs.String("data", "", "data directory of the embedded ledger")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("check", [2]string{"data", *data}); err != nil {
		return err
	}
	st, err := boltstore.Open(*data, boltstore.Options{ReadOnly: true})
	if errors.Is(err, hub.ErrLocked) {
		return fmt.Errorf("check: %w (a running server: take a backup with voucherd backup -server URL and check that)", err)
	}
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer st.Close()
	problems := st.Check(context.Background())
	for _, p := range problems {
		fmt.Fprintf(stdout, "%s\n", oneLine(p.Error()))
	}
	if len(problems) > 0 {
		return fmt.Errorf("check: %s: %d problems: ledger damaged (restore it from a backup)", boltstore.Path(*data), len(problems))
	}
	fmt.Fprintf(stdout, "ok: %s\n", boltstore.Path(*data))
	return nil
}

func cmdBackup(args []string, stdout io.Writer) error {
	fs := newFlags("backup")
	data := fs.String("data", "", "data directory of a stopped server's embedded ledger")
	server := fs.String("server", "", "URL of a running server (http://HOST:PORT)")
	token := fs.String("token", os.Getenv("VOUCHERD_TOKEN"), "admin token of the running server")
	out := fs.String("out", "", "backup file to write (must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := need("backup", [2]string{"out", *out}); err != nil {
		return err
	}
	ctx := context.Background()
	var n int64
	var err error
	switch {
	case *data != "" && *server != "":
		return usagef("backup: give -data DIR or -server URL, not both")
	case *server != "":
		n, err = (&hub.Remote{URL: *server, Token: *token}).BackupFile(ctx, *out)
	case *data != "":
		var st *boltstore.Store
		if st, err = boltstore.Open(*data, boltstore.Options{ReadOnly: true}); err != nil {
			if errors.Is(err, hub.ErrLocked) {
				return fmt.Errorf("backup: %w", err)
			}
			return fmt.Errorf("backup: %w", err)
		}
		defer st.Close()
		n, err = st.BackupFile(ctx, *out)
	default:
		return usagef("backup: -data DIR or -server URL is required")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup: %s (%d bytes); check it with voucherd check -data on a directory holding it as %s\n", *out, n, boltstore.File)
	return nil
}
