package web

import (
	"encoding/json"
	"strconv"
	"time"
)

// The API's to-dos are encoded by hand, byte for byte as json.Marshal encodes them (the test
// compares both): the list is encoded on every API request, and encoding/json's reflection was
// about a tenth of the API's CPU in the profile. Anything off the plain path (a title with
// characters JSON or HTML escapes, a year outside 0-9999) is left to encoding/json.

// jsonAppender is what writeJSON encodes without encoding/json.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, error)
}

func (l apiTodoList) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"todos":`...)
	if l.Todos == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range l.Todos {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = t.appendJSON(b); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if l.NextCursor != "" {
		b = append(b, `,"next_cursor":`...)
		b = appendJSONString(b, l.NextCursor)
	}
	return append(b, '}'), nil
}

func (t apiTodo) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, t.ID, 10)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, t.Title)
	b = append(b, `,"done":`...)
	b = strconv.AppendBool(b, t.Done)
	b = append(b, `,"created_by":`...)
	b = strconv.AppendInt(b, t.CreatedBy, 10)
	b = append(b, `,"created_at":`...)
	if b, err = appendJSONTime(b, t.CreatedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"updated_at":`...)
	if b, err = appendJSONTime(b, t.UpdatedAt); err != nil {
		return nil, err
	}
	b = append(b, `,"completed_at":`...)
	if t.CompletedAt == nil {
		b = append(b, "null"...)
	} else if b, err = appendJSONTime(b, *t.CompletedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendJSONString appends s quoted. Printable ASCII other than ", \ and the HTML-escaped <, >
// and & goes as it is; any other string is json.Marshal's.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does: RFC 3339 with nanoseconds, which
// it refuses for years outside 0-9999 (json.Marshal then gives its error).
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		q, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		return append(b, q...), nil
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
