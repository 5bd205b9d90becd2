package tenancy

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
)

// A tenant archive (`toodoo tenant export`) is one gzip stream. Inside it, after the line
// archiveMagic, comes a sequence of records, each a kind byte, a big-endian uint32 length and
// that many bytes:
//
//	H  the header, JSON (archiveHeader): format, source schema hash, tables and columns, users,
//	   members, domains
//	S  the SHA-256 of every byte before it, so that a damaged header is refused as such before
//	   import acts on it (a changed column name would otherwise read as a schema mismatch)
//	T  a table starts (its name); then
//	D  its rows in COPY text format, in chunks of at most archiveChunk bytes, and
//	E  the table ends (its row count, decimal)
//	Z  the trailer: the SHA-256 of every byte before it (magic and records, uncompressed)
//
// The tables follow the header's order. Everything is written and read as a stream: a table is
// never held in memory, only one chunk of it. The trailer comes last, so a truncated archive has
// none and a changed byte breaks the sum (gzip's own CRC catches most damage earlier).

// ArchiveFormat is the version of the archive layout this code writes and reads.
const ArchiveFormat = 1

const (
	archiveMagic = "toodoo-tenant-archive\n"
	archiveChunk = 64 << 10 // the largest D record written
	maxRecord    = 16 << 20 // the largest record read (the header); more means a corrupt length

	recHeader   = 'H'
	recSum      = 'S'
	recTable    = 'T'
	recData     = 'D'
	recTableEnd = 'E'
	recTrailer  = 'Z'
)

// archiveHeader is the H record.
type archiveHeader struct {
	Format      int             `json:"format"`
	ExportedAt  time.Time       `json:"exported_at"`
	Tenant      archiveTenant   `json:"tenant"`
	SchemaHash  string          `json:"schema_hash"`           // the ledger's applied hash of schema.hcl
	Fingerprint string          `json:"fingerprint,omitempty"` // the ledger's catalog fingerprint
	Tables      []archiveTable  `json:"tables"`
	Users       []archiveUser   `json:"users"` // every user a member or a user column names
	Members     []archiveMember `json:"members"`
	Domains     []archiveDomain `json:"domains"`
}

type archiveTenant struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Status      string `json:"status"`
}

type archiveTable struct {
	Name    string          `json:"name"`
	Columns []archiveColumn `json:"columns"`
}

type archiveColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`           // format_type, e.g. "bigint", "timestamp with time zone"
	User bool   `json:"user,omitempty"` // holds a public.users.id (see userColumnMark)
}

type archiveUser struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
}

type archiveMember struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

type archiveDomain struct {
	Domain  string `json:"domain"`
	Primary bool   `json:"primary"`
}

// errArchive is the answer for an archive that cannot be read: the operator gets one line
// that says what is wrong with the file, not a driver's message.
func errArchive(format string, args ...any) error {
	return toodoo.Errorf(toodoo.EINVALID, "Refused archive: "+format, args...)
}

// archiveWriter writes records into a gzip stream and sums them.
type archiveWriter struct {
	gz  *gzip.Writer
	sum hash.Hash
	out io.Writer // gz and sum
	buf []byte    // a table's pending rows, flushed as one D record at archiveChunk
}

func newArchiveWriter(w io.Writer) (*archiveWriter, error) {
	// BestSpeed: the rows of a to-do list compress well even so, and a gigabyte takes seconds.
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	a := &archiveWriter{gz: gz, sum: sha256.New(), buf: make([]byte, 0, archiveChunk)}
	a.out = io.MultiWriter(gz, a.sum)
	_, err = io.WriteString(a.out, archiveMagic)
	return a, err
}

func (a *archiveWriter) record(kind byte, payload []byte) error {
	var h [5]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(len(payload)))
	if _, err := a.out.Write(h[:]); err != nil {
		return err
	}
	_, err := a.out.Write(payload)
	return err
}

// Write takes a table's rows in COPY text format (COPY TO hands them over one row at a time)
// and writes them as D records of archiveChunk bytes.
func (a *archiveWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := archiveChunk - len(a.buf)
		take := min(room, len(p))
		a.buf = append(a.buf, p[:take]...)
		p = p[take:]
		if len(a.buf) == archiveChunk {
			if err := a.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (a *archiveWriter) flush() error {
	if len(a.buf) == 0 {
		return nil
	}
	err := a.record(recData, a.buf)
	a.buf = a.buf[:0]
	return err
}

// header writes the H record and the S record that checks it.
func (a *archiveWriter) header(payload []byte) error {
	if len(payload) > maxRecord {
		return fmt.Errorf("the archive's header would take %d bytes, more than the %d that format %d allows (too many members or users)", len(payload), maxRecord, ArchiveFormat)
	}
	if err := a.record(recHeader, payload); err != nil {
		return err
	}
	return a.record(recSum, a.sum.Sum(nil))
}

// endTable flushes the table's rows and writes its E record.
func (a *archiveWriter) endTable(rows int64) error {
	if err := a.flush(); err != nil {
		return err
	}
	return a.record(recTableEnd, strconv.AppendInt(nil, rows, 10))
}

// close writes the trailer and ends the gzip stream.
func (a *archiveWriter) close() error {
	if err := a.record(recTrailer, a.sum.Sum(nil)); err != nil {
		return err
	}
	return a.gz.Close()
}

// archiveReader reads records, checking the framing, the sum and the end of the stream.
type archiveReader struct {
	r       *bufio.Reader
	sum     hash.Hash
	payload []byte // the last record's payload, reused
}

func newArchiveReader(r io.Reader) (*archiveReader, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errArchive("the input is empty (pipe an archive from `toodoo tenant export` into this command).")
		}
		return nil, errArchive("this is not a Toodoo tenant archive (%v).", err)
	}
	a := &archiveReader{r: bufio.NewReaderSize(gz, archiveChunk), sum: sha256.New()}
	magic := make([]byte, len(archiveMagic))
	n, err := io.ReadFull(a.r, magic)
	if !strings.HasPrefix(archiveMagic, string(magic[:n])) || n == 0 && err == io.EOF {
		return nil, errArchive("this is not a Toodoo tenant archive (a gzip file with other contents).")
	}
	if err != nil {
		return nil, a.readErr(err)
	}
	a.sum.Write(magic)
	return a, nil
}

// readErr turns an error of the gzip stream into a one-line verdict on the archive.
func (a *archiveReader) readErr(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errArchive("the archive is truncated (it ends before its checksum).")
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &corrupt):
		return errArchive("the archive is corrupt (%v).", err)
	}
	return fmt.Errorf("read archive: %w", err)
}

// next reads the next record. The trailer's sum is checked here, and after it the stream must
// end.
func (a *archiveReader) next() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(a.r, h[:]); err != nil {
		return 0, nil, a.readErr(err)
	}
	kind, n := h[0], binary.BigEndian.Uint32(h[1:])
	if n > maxRecord {
		return 0, nil, errArchive("the archive is corrupt (a record of %d bytes).", n)
	}
	if cap(a.payload) < int(n) {
		a.payload = make([]byte, n)
	}
	a.payload = a.payload[:n]
	if _, err := io.ReadFull(a.r, a.payload); err != nil {
		return 0, nil, a.readErr(err)
	}
	if kind != recTrailer {
		a.sum.Write(h[:])
		a.sum.Write(a.payload)
		return kind, a.payload, nil
	}
	if string(a.payload) != string(a.sum.Sum(nil)) {
		return 0, nil, errArchive("the archive is corrupt (its SHA-256 checksum does not match its contents).")
	}
	// Nothing may follow the trailer; reading to the end also makes gzip check its CRC.
	if rest, err := io.Copy(io.Discard, a.r); err != nil {
		return 0, nil, a.readErr(err)
	} else if rest != 0 {
		return 0, nil, errArchive("the archive is corrupt (%d bytes after its checksum).", rest)
	}
	return kind, a.payload, nil
}

// expect reads the next record and refuses any kind but want.
func (a *archiveReader) expect(want byte) ([]byte, error) {
	kind, payload, err := a.next()
	if err != nil {
		return nil, err
	}
	if kind != want {
		return nil, errArchive("the archive is corrupt (record %q where %q was expected).", kind, want)
	}
	return payload, nil
}

// header reads the H record.
func (a *archiveReader) header() (*archiveHeader, error) {
	payload, err := a.expect(recHeader)
	if err != nil {
		return nil, err
	}
	var h archiveHeader
	jsonErr := json.Unmarshal(payload, &h)
	sum := a.sum.Sum(nil)
	if check, err := a.expect(recSum); err != nil {
		return nil, err
	} else if string(check) != string(sum) {
		return nil, errArchive("the archive is corrupt (its header's SHA-256 checksum does not match).")
	}
	if err := jsonErr; err != nil {
		return nil, errArchive("the archive's header is corrupt (%v).", err)
	}
	if h.Format != ArchiveFormat {
		return nil, errArchive("the archive has format %d and this toodoo reads format %d.", h.Format, ArchiveFormat)
	}
	return &h, nil
}

// drain reads the rest of the archive, to tell whether a failure on its rows was the archive's
// fault: it returns the archive's error, or nil if the archive is whole.
func (a *archiveReader) drain() error {
	for {
		kind, _, err := a.next()
		if err != nil || kind == recTrailer {
			return err
		}
	}
}

// tableRows is one table's rows as an io.Reader for COPY FROM: the payloads of its D records,
// until its E record, whose row count it keeps.
type tableRows struct {
	a    *archiveReader
	buf  []byte
	rows int64 // from the E record, once read
	done bool
	err  error // the archive's error, which COPY would otherwise report as its own
}

func (t *tableRows) Read(p []byte) (int, error) {
	for len(t.buf) == 0 {
		if t.done {
			return 0, io.EOF
		}
		kind, payload, err := t.a.next()
		switch {
		case err != nil:
			t.err = err
			return 0, err
		case kind == recData:
			t.buf = payload
		case kind == recTableEnd:
			t.done = true
			if t.rows, err = strconv.ParseInt(string(payload), 10, 64); err != nil {
				t.err = errArchive("the archive is corrupt (a bad row count).")
				return 0, t.err
			}
		default:
			t.err = errArchive("the archive is corrupt (record %q inside a table).", kind)
			return 0, t.err
		}
	}
	n := copy(p, t.buf)
	t.buf = t.buf[n:]
	return n, nil
}
