package pgwire

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/shelflake/shelflake/queries"
)

// Session statements the server answers itself: SET, RESET, SHOW, and time
// travel by SET shelflake.as_of / shelflake.version.

// set runs SET and RESET of session parameters and time travel.
func (c *conn) set(ctx context.Context, p *prepared) error {
	name, value, reset, err := parseSet(p.query)
	if err != nil {
		return err
	}
	lname := strings.ToLower(name)
	if !settable[lname] && lname != "all" {
		return refuse(codeInsufficientPri, "parameter %q cannot be set here: only session parameters (application_name, TimeZone, DateStyle, …) and shelflake.as_of / shelflake.version", name)
	}
	tag := "SET"
	if reset {
		tag = "RESET"
	}
	switch lname {
	case "shelflake.as_of", "shelflake.version":
		if c.tx != 'I' {
			return refuse("25001", "%s cannot change inside a transaction", lname)
		}
		asOf, version := c.asOf, c.version
		if lname == "shelflake.as_of" {
			asOf, version = value, ""
		} else {
			version, asOf = value, ""
		}
		if reset || value == "" || strings.EqualFold(value, "default") || strings.EqualFold(value, "latest") {
			asOf, version = "", ""
		}
		if err := c.timeTravel(ctx, asOf, version); err != nil {
			return err
		}
	case "all":
		c.setTravel(nil, "", "")
		c.defaults()
	case "time zone", "timezone":
		if !reset && !strings.EqualFold(value, "UTC") && !strings.EqualFold(value, "Etc/UTC") && value != "GMT" && value != "Z" && value != "+00" && value != "0" {
			c.log.Debug("TimeZone set; times are sent in UTC", "value", value)
		}
		c.params["TimeZone"] = "UTC"
		c.be.Send(&pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"})
	case "transaction", "session characteristics", "names":
	default:
		key := c.paramName(name)
		if reset {
			value = ""
		}
		if key == "client_encoding" && !strings.EqualFold(strings.ReplaceAll(value, "-", ""), "UTF8") && !reset {
			return refuse(codeFeature, "client_encoding %q: only UTF8", value)
		}
		c.params[key] = value
		for _, r := range reportedParams {
			if r == key {
				c.be.Send(&pgproto3.ParameterStatus{Name: key, Value: value})
			}
		}
	}
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
	return nil
}

// timeTravel opens the snapshot for as of / version ("" both: latest).
func (c *conn) timeTravel(ctx context.Context, asOf, version string) error {
	if asOf == "" && version == "" {
		c.setTravel(nil, "", "")
		return nil
	}
	opts := c.srv.opts.Session
	opts.Versions, opts.AsOf = nil, time.Time{}
	var key string
	if asOf != "" {
		t, err := parseAsOf(asOf)
		if err != nil {
			return refuse(codeInvalidParam, "shelflake.as_of: %v", err)
		}
		opts.AsOf = t
		key = "as_of=" + t.UTC().Format(time.RFC3339Nano)
	} else {
		v, err := strconv.ParseInt(version, 10, 64)
		if err != nil || v < 0 {
			return refuse(codeInvalidParam, "shelflake.version %q: want a version number ≥ 0", version)
		}
		opts.Versions = map[string]int64{queries.PinAll: v}
		key = "version=" + strconv.FormatInt(v, 10)
	}
	s, err := c.srv.openTravel(ctx, key, opts)
	if err != nil {
		return refuse(codeInvalidParam, "time travel: %v", err)
	}
	c.setTravel(s, asOf, version)
	return nil
}

func (c *conn) setTravel(s *snapshot, asOf, version string) {
	if c.travel != nil {
		if c.duckOf == c.travel {
			c.closeDuck()
		}
		c.travel.release()
	}
	c.travel, c.asOf, c.version = s, asOf, version
}

// parseAsOf accepts RFC 3339 or a date (the end of that day, UTC), as
// `shelflake sql --as-of` does.
func parseAsOf(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02 15:04:05Z07:00", s); err == nil {
		return t, nil
	}
	if d, err := time.Parse("2006-01-02", s); err == nil {
		return d.Add(24*time.Hour - time.Nanosecond), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-03-01T12:00:00Z) or a date", s)
}

// parseSet parses SET [SESSION|LOCAL] name {=|TO} value, SET TIME ZONE v,
// RESET name.
func parseSet(q string) (name, value string, reset bool, err error) {
	s := strings.TrimSpace(stripComments(q))
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return "", "", false, refuse(codeSyntax, "SET: want SET name = value")
	}
	if strings.EqualFold(fields[0], "RESET") {
		return fields[1], "", true, nil
	}
	rest := strings.TrimSpace(s[len(fields[0]):])
	for _, mod := range []string{"SESSION ", "LOCAL "} {
		if len(rest) > len(mod) && strings.EqualFold(rest[:len(mod)], mod) && !strings.EqualFold(fields[2], "CHARACTERISTICS") {
			rest = strings.TrimSpace(rest[len(mod):])
		}
	}
	up := strings.ToUpper(rest)
	switch {
	case strings.HasPrefix(up, "TIME ZONE "):
		return "time zone", unquote(strings.TrimSpace(rest[len("TIME ZONE "):])), false, nil
	case strings.HasPrefix(up, "TRANSACTION"), strings.HasPrefix(up, "SESSION CHARACTERISTICS"):
		if strings.Contains(up, "READ WRITE") {
			return "", "", false, refuse(codeReadOnly, "shelflake serve is read-only: READ WRITE transactions are not available")
		}
		return "transaction", "", false, nil
	case strings.HasPrefix(up, "NAMES "):
		return "client_encoding", unquote(strings.TrimSpace(rest[len("NAMES "):])), false, nil
	}
	i := strings.IndexAny(rest, "= \t")
	if i < 0 {
		return "", "", false, refuse(codeSyntax, "SET %s: want SET name = value", rest)
	}
	name = strings.TrimSpace(rest[:i])
	value = strings.TrimSpace(rest[i:])
	if strings.HasPrefix(value, "=") {
		value = strings.TrimSpace(value[1:])
	} else if len(value) >= 3 && strings.EqualFold(value[:3], "TO ") {
		value = strings.TrimSpace(value[3:])
	}
	name = strings.Trim(name, `"`)
	if strings.EqualFold(value, "DEFAULT") {
		return name, "", true, nil
	}
	return name, unquote(value), false, nil
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	}
	return v
}

// show answers SHOW name from the session's parameters.
func (c *conn) show(p *prepared, describe bool) error {
	words := p.words
	if len(words) < 2 {
		return refuse(codeSyntax, "SHOW: want SHOW name")
	}
	name := strings.ToLower(strings.Join(words[1:], " "))
	var value string
	switch name {
	case "transaction isolation level":
		value = "serializable"
	case "shelflake.as_of":
		value = c.asOf
	case "shelflake.version":
		value = c.version
	case "all":
		return refuse(codeFeature, "SHOW ALL is not supported; SHOW a parameter by name")
	default:
		key := c.paramName(words[1])
		v, ok := c.params[key]
		if !ok {
			return refuse(codeUndefinedObject, "unrecognized configuration parameter %q", strings.ToLower(words[1]))
		}
		name, value = key, v
	}
	if describe {
		c.be.Send(rowDescription([]column{{name: name, oid: oidText, size: -1, mod: -1}}, nil))
	}
	c.be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte(value)}})
	c.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SHOW")})
	return nil
}
