package pgwire

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Config is the users and roles file (JSON):
//
//	{
//	  "roles": {
//	    "analyst": {"tables": ["*"], "hide_columns": {"pos_lines": ["customer_id"]}},
//	    "buyer":   {"tables": ["purchase_order_lines", "item_locations"]}
//	  },
//	  "users": {
//	    "ana": {"role": "analyst", "scram": "SCRAM-SHA-256$4096:…$…:…"}
//	  }
//	}
//
// A user's "scram" is a SCRAM-SHA-256 secret in Postgres' format (what
// HashPassword and `shelflake serve --hash-password` write); passwords are
// never stored. A role reads the tables it lists ("*": every lake table)
// less the columns hide_columns names; it sees them as views in a schema
// of its own, and nothing else of the lake.
type Config struct {
	Roles map[string]*Role `json:"roles"`
	Users map[string]*User `json:"users"`
}

// Role is what a role may read.
type Role struct {
	Name string `json:"-"`
	// Tables are the lake tables the role reads; "*" is every table.
	Tables []string `json:"tables"`
	// HideColumns names, per table, columns the role does not see.
	HideColumns map[string][]string `json:"hide_columns,omitempty"`
}

// User is one login.
type User struct {
	Role  string `json:"role"`
	SCRAM string `json:"scram"`

	secret scramSecret
}

func (r *Role) schema() string { return "role_" + r.Name }

func (r *Role) allTables() bool { return slices.Contains(r.Tables, "*") }

// hasTable reports whether the role reads table name (lower case); the
// lake-description tables _tables and _commits are every role's.
func (r *Role) hasTable(name string) bool {
	return name == "_tables" || name == "_commits" || r.allTables() || slices.Contains(r.Tables, name)
}

func (r *Role) hidden(table, column string) bool {
	return slices.Contains(r.HideColumns[table], column)
}

// LoadConfig reads and checks a users and roles file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses a users and roles file's contents (see Config).
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	return &c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Users) == 0 {
		errs = append(errs, errors.New("no users: add one under \"users\""))
	}
	for name, r := range c.Roles {
		r.Name = name
		if !validIdent(name) {
			errs = append(errs, fmt.Errorf("role %q: want letters, digits and _", name))
		}
		if len(r.Tables) == 0 {
			errs = append(errs, fmt.Errorf("role %s: no tables (\"*\" for every table)", name))
		}
		for _, t := range r.Tables {
			if t != "*" && !validIdent(t) {
				errs = append(errs, fmt.Errorf("role %s: table %q is not a table name", name, t))
			}
		}
	}
	for name, u := range c.Users {
		if name == "" {
			errs = append(errs, errors.New("a user with an empty name"))
		}
		if _, ok := c.Roles[u.Role]; !ok {
			errs = append(errs, fmt.Errorf("user %s: role %q is not under \"roles\"", name, u.Role))
		}
		s, err := parseSCRAMSecret(u.SCRAM)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: scram: %w (make one with `shelflake serve --hash-password`)", name, err))
		}
		u.secret = s
	}
	return errors.Join(errs...)
}

// scramIterations is the PBKDF2 iteration count of new secrets
// (Postgres' default).
const scramIterations = 4096

// scramSecret is a stored SCRAM-SHA-256 credential (RFC 5802, 7677).
type scramSecret struct {
	iterations int
	salt       []byte
	storedKey  []byte
	serverKey  []byte
}

// HashPassword returns a SCRAM-SHA-256 secret for password in Postgres'
// format: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	s, err := deriveSecret(password, salt, scramIterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", s.iterations, b64(s.salt), b64(s.storedKey), b64(s.serverKey)), nil
}

func deriveSecret(password string, salt []byte, iterations int) (scramSecret, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return scramSecret{}, err
	}
	clientKey := hmacSHA256(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	return scramSecret{iterations: iterations, salt: salt, storedKey: stored[:], serverKey: hmacSHA256(salted, []byte("Server Key"))}, nil
}

func parseSCRAMSecret(s string) (scramSecret, error) {
	var out scramSecret
	rest, ok := strings.CutPrefix(s, "SCRAM-SHA-256$")
	if !ok {
		return out, errors.New("want SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")
	}
	params, keys, ok := strings.Cut(rest, "$")
	iter, salt, ok1 := strings.Cut(params, ":")
	stored, server, ok2 := strings.Cut(keys, ":")
	if !ok || !ok1 || !ok2 {
		return out, errors.New("want SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")
	}
	var err error
	if out.iterations, err = strconv.Atoi(iter); err != nil || out.iterations < 1 {
		return out, fmt.Errorf("iterations %q", iter)
	}
	dec := base64.StdEncoding.DecodeString
	if out.salt, err = dec(salt); err != nil {
		return out, fmt.Errorf("salt: %w", err)
	}
	if out.storedKey, err = dec(stored); err != nil || len(out.storedKey) != sha256.Size {
		return out, errors.New("StoredKey: want 32 bytes base64")
	}
	if out.serverKey, err = dec(server); err != nil || len(out.serverKey) != sha256.Size {
		return out, errors.New("ServerKey: want 32 bytes base64")
	}
	return out, nil
}

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// scramServer runs the server side of one SCRAM-SHA-256 exchange
// (without channel binding).
type scramServer struct {
	secret      scramSecret
	nonce       string
	clientFirst string // client-first-message-bare
	serverFirst string
}

// errSCRAM is a malformed SCRAM message.
var errSCRAM = errors.New("malformed SCRAM message")

// first takes the client-first-message and returns the server-first-message.
func (s *scramServer) first(msg string) (string, error) {
	// gs2-header: "n,," or "y,," (no channel binding), then the bare part.
	var bare string
	switch {
	case strings.HasPrefix(msg, "n,,"), strings.HasPrefix(msg, "y,,"):
		bare = msg[3:]
	default:
		return "", fmt.Errorf("%w: channel binding is not supported", errSCRAM)
	}
	var clientNonce string
	for _, attr := range strings.Split(bare, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			clientNonce = v
		}
	}
	if clientNonce == "" {
		return "", fmt.Errorf("%w: no nonce", errSCRAM)
	}
	nb := make([]byte, 18)
	if _, err := rand.Read(nb); err != nil {
		return "", err
	}
	s.clientFirst = bare
	s.nonce = clientNonce + base64.StdEncoding.EncodeToString(nb)
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(s.secret.salt), s.secret.iterations)
	return s.serverFirst, nil
}

// final takes the client-final-message; it returns the server-final-message
// when the proof is right, else ok false.
func (s *scramServer) final(msg string) (reply string, ok bool, err error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return "", false, fmt.Errorf("%w: no proof", errSCRAM)
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	var nonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			nonce = v
		}
	}
	if nonce != s.nonce {
		return "", false, fmt.Errorf("%w: nonce mismatch", errSCRAM)
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return "", false, fmt.Errorf("%w: proof", errSCRAM)
	}
	authMessage := s.clientFirst + "," + s.serverFirst + "," + withoutProof
	sig := hmacSHA256(s.secret.storedKey, []byte(authMessage))
	clientKey := make([]byte, sha256.Size)
	for i := range clientKey {
		clientKey[i] = proof[i] ^ sig[i]
	}
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], s.secret.storedKey) != 1 {
		return "", false, nil
	}
	serverSig := hmacSHA256(s.secret.serverKey, []byte(authMessage))
	return "v=" + base64.StdEncoding.EncodeToString(serverSig), true, nil
}
