package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/toodoo/toodoo/tenancy"
)

// runTenantExport is `toodoo tenant export NAME [--output FILE]`: the tenant's archive on
// stdout (or in FILE), a summary on stderr.
func runTenantExport(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "tenant export", "tenant export NAME [--output FILE] (default: stdout, e.g. > NAME.toodoo)")
	output := fs.String("output", "", "write the archive to `FILE` (created only when the export succeeds) instead of stdout")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	if *output == "" && isTerminal(e.Stdout) {
		return usagef("tenant export: the archive is binary; redirect it (toodoo tenant export %s > %s.toodoo) or use --output", name, name)
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		start := time.Now()
		var sum tenancy.ExportSummary
		var size int64
		if *output == "" {
			w := &countingWriter{w: bufio.NewWriterSize(e.Stdout, 256<<10)}
			if sum, err = db.Export(ctx, name, w); err != nil {
				return err
			}
			if err := w.w.Flush(); err != nil {
				return fmt.Errorf("write archive: %w", err)
			}
			size = w.n
		} else if sum, size, err = exportToFile(ctx, db, name, *output); err != nil {
			return err
		}
		tables := make([]string, len(sum.Tables))
		for i, t := range sum.Tables {
			tables[i] = fmt.Sprintf("%s %d", t.Name, t.Rows)
		}
		fmt.Fprintf(e.Stderr, "Exported tenant %s (rows: %s; members: %d; domains: %d; schema %.12s): %d bytes in %s.\n",
			sum.Tenant.Schema, strings.Join(tables, ", "), sum.Members, sum.Domains, sum.SchemaHash, size, time.Since(start).Round(time.Millisecond))
		return nil
	})
}

// exportToFile writes the archive to a temporary file next to path and renames it to path
// once complete and synced, so path never holds a partial archive.
func exportToFile(ctx context.Context, db *tenancy.DB, name, path string) (tenancy.ExportSummary, int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return tenancy.ExportSummary{}, 0, err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing left to remove
	defer f.Close()
	w := &countingWriter{w: bufio.NewWriterSize(f, 256<<10)}
	sum, err := db.Export(ctx, name, w)
	if err != nil {
		return sum, 0, err
	}
	if err := w.w.Flush(); err != nil {
		return sum, 0, err
	}
	if err := f.Sync(); err != nil {
		return sum, 0, err
	}
	if err := f.Close(); err != nil {
		return sum, 0, err
	}
	return sum, w.n, os.Rename(f.Name(), path)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
