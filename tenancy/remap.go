package tenancy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// userRemap rewrites the user columns of rows in COPY text format on their way into COPY FROM:
// a public.users.id of the source database becomes the id of the user with the same e-mail
// here, or unknownUser when nobody here has it. One row is held at a time.
type userRemap struct {
	in      *bufio.Reader
	fields  map[int]bool    // the positions of the user columns in a row
	ids     map[int64]int64 // source id -> id here
	line    []byte          // a row longer than in's buffer, assembled
	out     []byte          // the rewritten row, not yet read
	obuf    []byte          // out's backing array
	unknown int64           // values that became unknownUser
}

// unknownUser is what a user column holds when the archive's user has no account here.
const unknownUser = 0

func newUserRemap(r io.Reader, fields map[int]bool, ids map[int64]int64) *userRemap {
	return &userRemap{in: bufio.NewReaderSize(r, archiveChunk), fields: fields, ids: ids}
}

func (u *userRemap) Read(p []byte) (int, error) {
	if len(u.out) == 0 {
		row, err := u.row()
		if len(row) == 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return 0, err
		}
		if err := u.rewrite(row); err != nil {
			return 0, err
		}
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

// row returns the next row with its newline (a row never contains a raw newline in text
// format: COPY escapes it as \n).
func (u *userRemap) row() ([]byte, error) {
	line, err := u.in.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	u.line = append(u.line[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = u.in.ReadSlice('\n')
		u.line = append(u.line, line...)
	}
	return u.line, err
}

// rewrite puts row, with its user fields mapped, into u.out.
func (u *userRemap) rewrite(row []byte) error {
	out := u.obuf[:0]
	for i := 0; ; i++ {
		end := bytes.IndexAny(row, "\t\n")
		if end < 0 {
			end = len(row)
		}
		field := row[:end]
		if u.fields[i] && string(field) != `\N` {
			id, err := strconv.ParseInt(string(field), 10, 64)
			if err != nil {
				return errArchive("the archive is corrupt (a user column holds %q).", field)
			}
			mapped, ok := u.ids[id]
			if !ok {
				mapped = unknownUser
				u.unknown++
			}
			out = strconv.AppendInt(out, mapped, 10)
		} else {
			out = append(out, field...)
		}
		if end == len(row) {
			break
		}
		out = append(out, row[end])
		row = row[end+1:]
		if len(row) == 0 {
			break
		}
	}
	u.obuf, u.out = out, out
	return nil
}
