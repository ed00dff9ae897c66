package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/nutcracker-go/nutcracker/internal/dist"
	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/proto/mc"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
)

// globalKey is the top-level key bilitw reserves for process-wide settings; it is never a pool.
const globalKey = "global"

// Defaults, from twemproxy's src/nc_conf.h, bilitw's nc_conf.c and twemproxy-163's nc_conf.h.
const (
	defaultHash               = "fnv1a_64"
	defaultDistribution       = "ketama"
	defaultBacklog            = 512
	defaultServerConnections  = 1
	defaultServerRetryTimeout = 30000 * time.Millisecond
	defaultServerFailureLimit = 2
	defaultSentinelHeartbeat  = 1000 * time.Millisecond
	defaultStatsDuration      = 300000 * time.Millisecond
	defaultStatsFile          = "/tmp/twstats.log"
)

// clusterHashTag is the hash tag of a cluster pool: Redis Cluster's, which the slot of a key uses.
const clusterHashTag = "{}"

// DefaultReloadTimeout is reload_timeout when the file does not set it
// (or sets 0): how long clients of a removed pool, and the clients of a
// stopping worker, have to finish.
const DefaultReloadTimeout = 120000 * time.Millisecond

// Parse validates config bytes; file is used only in error messages and Config.File.
func Parse(file string, data []byte) (*Config, error) {
	root, err := decodeRoot(file, data)
	if err != nil {
		return nil, err
	}
	return parseConfig(file, root)
}

// decodeRoot returns the top node of the file's single YAML document.
func decodeRoot(file string, data []byte) (*yaml.Node, error) {
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Problem: "no pools defined"}
		}
		return nil, yamlError(file, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(file, err)
	default:
		return nil, &Error{File: file, Line: next.Line, Problem: "more than one YAML document"}
	}
	root := doc.Content[0]
	if alias := findAlias(root); alias != nil {
		return nil, &Error{File: file, Line: alias.Line, Problem: "YAML aliases are not supported"}
	}
	return root, nil
}

var yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems yaml.v3 reports from its parser rather than its scanner.
// It numbers the lines of these from 0 (a known quirk of v3.0.1), and those of scanner problems
// from 1.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into an *Error on the right line.
// yaml.v3 leaves the line out when the problem is on the first one.
func yamlError(file string, err error) error {
	problem := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlErrorLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1]) // the pattern admits digits only
		problem = m[2]
		if slices.Contains(yamlParserProblems, problem) {
			line++
		}
	}
	return &Error{File: file, Line: line, Problem: "invalid YAML: " + problem}
}

// checkText rejects bytes that YAML does not allow, with their line; yaml.v3 reports these
// without one.
func checkText(file string, data []byte) error {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size == 1:
			return &Error{File: file, Line: line, Problem: "invalid YAML: not UTF-8 text"}
		case r == '\n':
			line++
		case unicode.IsControl(r) && r != '\t' && r != '\r' && r != 0x85:
			return &Error{File: file, Line: line, Problem: fmt.Sprintf("invalid YAML: control character %U", r)}
		}
		data = data[size:]
	}
	return nil
}

// findAlias returns the first alias in the tree. twemproxy rejects anchors and aliases, and an
// alias would let one pool's text stand for another's.
func findAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	for _, c := range n.Content {
		if a := findAlias(c); a != nil {
			return a
		}
	}
	return nil
}

// section is a part of the file that errors are reported against: a pool, the global block, or
// the top level (scope "").
type section struct {
	file  string
	scope string
}

func (s section) fail(line int, key, format string, args ...any) *Error {
	return &Error{File: s.file, Line: line, Scope: s.scope, Key: key, Problem: fmt.Sprintf(format, args...)}
}

func poolScope(name string) string { return fmt.Sprintf("pool %q", name) }

// entry is one key and its value in a mapping.
type entry struct {
	key, value *yaml.Node
}

func (e entry) name() string { return e.key.Value }

// entries checks that every key of the mapping m is a string given once and returns them in file
// order. At the top level (scope "") each key names a pool or the global block.
func (s section) entries(m *yaml.Node) ([]entry, error) {
	firstLine := make(map[string]int)
	var out []entry
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, s.fail(k.Line, "", "a key must be a string, got %s", describe(k))
		}
		if first, dup := firstLine[k.Value]; dup {
			if s.scope == "" {
				return nil, section{s.file, topScope(k.Value)}.fail(k.Line, "", "defined twice (first at line %d)", first)
			}
			return nil, s.fail(k.Line, k.Value, "given twice (first at line %d)", first)
		}
		firstLine[k.Value] = k.Line
		out = append(out, entry{k, v})
	}
	return out, nil
}

func topScope(key string) string {
	if key == globalKey {
		return globalKey
	}
	return poolScope(key)
}

func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func parseConfig(file string, root *yaml.Node) (*Config, error) {
	top := section{file: file}
	if isNull(root) {
		return nil, top.fail(0, "", "no pools defined")
	}
	if root.Kind != yaml.MappingNode {
		return nil, top.fail(root.Line, "", "the top level must be a mapping of pool names, got %s", describe(root))
	}
	entries, err := top.entries(root)
	if err != nil {
		return nil, err
	}
	cfg := &Config{File: file, Global: Global{
		StatsDuration: defaultStatsDuration,
		ReloadTimeout: DefaultReloadTimeout,
		StatsFile:     defaultStatsFile,
	}}
	listenedBy := make(map[Listen]*Pool)
	for _, e := range entries {
		if e.name() == globalKey {
			if err := parseGlobal(file, &cfg.Global, e.value); err != nil {
				return nil, err
			}
			continue
		}
		pool, listenLine, err := parsePool(file, e)
		if err != nil {
			return nil, err
		}
		addr := Listen{Network: pool.Listen.Network, Addr: pool.Listen.Addr}
		if other, dup := listenedBy[addr]; dup {
			return nil, section{file, poolScope(pool.Name)}.fail(listenLine, "listen",
				"address %q is already used by pool %q (line %d)", addr.Addr, other.Name, other.Line)
		}
		listenedBy[addr] = pool
		cfg.Pools = append(cfg.Pools, pool)
	}
	if len(cfg.Pools) == 0 {
		return nil, top.fail(root.Line, "", "no pools defined")
	}
	for _, pool := range cfg.Pools {
		if pool.SlowReqDuration == 0 {
			pool.SlowReqDuration = cfg.Global.SlowReqDuration
		}
	}
	slices.SortFunc(cfg.Pools, func(a, b *Pool) int { return dist.Compare(a.Name, b.Name) })
	return cfg, nil
}

func parseGlobal(file string, g *Global, value *yaml.Node) error {
	s := section{file, globalKey}
	g.Present = true
	if isNull(value) {
		return nil // "global:" with every key commented out
	}
	if value.Kind != yaml.MappingNode {
		return s.fail(value.Line, "", "must be a mapping of keys, got %s", describe(value))
	}
	entries, err := s.entries(value)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.name() {
		case "stats_duration":
			g.StatsDuration, err = parseValue(s, e, millis(1))
		case "reload_timeout":
			g.ReloadTimeout, err = parseValue(s, e, millis(0))
		case "slow_req_duration":
			g.SlowReqDuration, err = parseValue(s, e, millis(0))
		case "stats_file":
			g.StatsFile, err = parseValue(s, e, asIs)
		default:
			err = s.fail(e.key.Line, e.name(), "unknown key")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parsePool returns the pool and the line of its listen key.
func parsePool(file string, top entry) (*Pool, int, error) {
	pool := &Pool{
		Name:               top.name(),
		Hash:               defaultHash,
		Distribution:       defaultDistribution,
		Backlog:            defaultBacklog,
		ServerConnections:  defaultServerConnections,
		ServerRetryTimeout: defaultServerRetryTimeout,
		ServerFailureLimit: defaultServerFailureLimit,
		SentinelHeartbeat:  defaultSentinelHeartbeat,
		Line:               top.key.Line,
	}
	s := section{file, poolScope(pool.Name)}
	if pool.Name == "" {
		return nil, 0, s.fail(pool.Line, "", "a pool name must not be empty")
	}
	if top.value.Kind != yaml.MappingNode {
		return nil, 0, s.fail(top.value.Line, "", "must be a mapping of pool keys, got %s", describe(top.value))
	}
	entries, err := s.entries(top.value)
	if err != nil {
		return nil, 0, err
	}
	keyLine := make(map[string]int)
	for _, e := range entries {
		if err := s.poolKey(pool, e); err != nil {
			return nil, 0, err
		}
		keyLine[e.name()] = e.key.Line
	}
	if err := s.checkPool(pool, keyLine); err != nil {
		return nil, 0, err
	}
	return pool, keyLine["listen"], nil
}

func (s section) poolKey(pool *Pool, e entry) (err error) {
	switch e.name() {
	case "listen":
		pool.Listen, err = parseValue(s, e, parseListen)
	case "client_connections":
		pool.ClientConnections, err = parseValue(s, e, atLeast(0))
	case "hash":
		pool.Hash, err = parseValue(s, e, oneOf(hashkit.Names()))
	case "hash_tag":
		pool.HashTag, err = parseValue(s, e, parseHashTag)
	case "distribution":
		pool.Distribution, err = parseValue(s, e, oneOf(dist.Names()))
	case "timeout":
		pool.Timeout, err = parseValue(s, e, parseTimeout)
	case "backlog":
		pool.Backlog, err = parseValue(s, e, atLeast(0))
	case "preconnect":
		pool.Preconnect, err = parseValue(s, e, parseBool)
	case "redis":
		pool.Redis, err = parseValue(s, e, parseBool)
	case "redis_auth":
		pool.RedisAuth, err = parseValue(s, e, asIs)
	case "redis_db":
		pool.RedisDB, err = parseValue(s, e, atLeast(0))
	case "server_connections":
		pool.ServerConnections, err = parseValue(s, e, atLeast(1))
	case "auto_eject_hosts":
		pool.AutoEjectHosts, err = parseValue(s, e, parseBool)
	case "server_retry_timeout":
		pool.ServerRetryTimeout, err = parseValue(s, e, millis(0))
	case "server_failure_limit":
		pool.ServerFailureLimit, err = parseValue(s, e, atLeast(0))
	case "tcpkeepalive":
		pool.TCPKeepalive, err = parseValue(s, e, parseBool)
	case "slow_req_duration":
		pool.SlowReqDuration, err = parseValue(s, e, millis(0))
	case "deny_commands":
		pool.DenyCommands, err = s.denyCommands(e)
	case "servers":
		pool.Servers, err = s.servers(e)
	case "groups":
		pool.Groups, err = s.groups(e)
	case "sentinels":
		pool.Sentinels, err = s.sentinels(e)
	case "sentinel_heartbeat":
		pool.SentinelHeartbeat, err = parseValue(s, e, millis(1))
	case "sentinel_auth":
		pool.SentinelAuth, err = parseValue(s, e, asIs)
	case "redis_cluster":
		pool.RedisCluster, err = parseValue(s, e, parseBool)
	case "server_tls":
		pool.ServerTLS.Enabled, err = parseValue(s, e, parseBool)
	case "server_tls_ca_cert_file":
		pool.ServerTLS.CAFile, err = parseValue(s, e, asIs)
	case "server_tls_cert_file":
		pool.ServerTLS.CertFile, err = parseValue(s, e, asIs)
	case "server_tls_key_file":
		pool.ServerTLS.KeyFile, err = parseValue(s, e, asIs)
	case "server_tls_server_name":
		pool.ServerTLS.ServerName, err = parseValue(s, e, asIs)
	case "tls_cert_file":
		pool.ClientTLS.CertFile, err = parseValue(s, e, asIs)
	case "tls_key_file":
		pool.ClientTLS.KeyFile, err = parseValue(s, e, asIs)
	case "tls_ca_cert_file":
		pool.ClientTLS.CAFile, err = parseValue(s, e, asIs)
	case "tls_auth_clients":
		pool.ClientTLS.AuthClients, err = parseValue(s, e, oneOf([]string{"yes", "no", "optional"}))
	case "stats_duration", "reload_timeout", "stats_file":
		err = s.fail(e.key.Line, e.name(), "unknown pool key; it belongs in the %s: block", globalKey)
	default:
		err = s.fail(e.key.Line, e.name(), "unknown key")
	}
	return err
}

// checkPool applies the rules that involve more than one key; keyLine has the line of every key
// given.
func (s section) checkPool(pool *Pool, keyLine map[string]int) error {
	given := func(key string) bool { _, ok := keyLine[key]; return ok }
	switch {
	case !given("listen"):
		return s.fail(pool.Line, "listen", "missing")
	case given("servers") && given("groups"):
		return s.fail(keyLine["groups"], "groups", "not allowed together with servers: a pool lists either servers or sentinel groups")
	case given("servers") && given("sentinels"):
		return s.fail(keyLine["sentinels"], "sentinels", "not allowed together with servers: sentinels only find the masters of groups")
	case given("groups") && !given("sentinels"):
		return s.fail(pool.Line, "sentinels", "missing: a pool with groups needs sentinels to find them")
	case given("sentinels") && !given("groups"):
		return s.fail(pool.Line, "groups", "missing: a pool with sentinels needs groups to look up")
	case !given("servers") && !given("groups"):
		return s.fail(pool.Line, "servers", "missing (or groups and sentinels for a sentinel pool)")
	case given("sentinel_heartbeat") && !given("groups"):
		return s.fail(keyLine["sentinel_heartbeat"], "sentinel_heartbeat", "only valid in a sentinel pool (with groups and sentinels)")
	case given("sentinel_auth") && !given("groups"):
		return s.fail(keyLine["sentinel_auth"], "sentinel_auth", "only valid in a sentinel pool (with groups and sentinels)")
	}
	if err := s.checkServerTLS(pool, keyLine); err != nil {
		return err
	}
	if err := s.checkClientTLS(pool, keyLine); err != nil {
		return err
	}
	if pool.RedisCluster {
		if err := s.checkCluster(pool, keyLine); err != nil {
			return err
		}
	}
	if given("groups") {
		if given("redis") && !pool.Redis {
			return s.fail(keyLine["redis"], "redis", "a sentinel pool is always a redis pool")
		}
		pool.Redis = true
	}
	if given("redis_auth") && !pool.Redis {
		return s.fail(keyLine["redis_auth"], "redis_auth", "only valid for a redis pool (redis: true)")
	}
	for _, name := range pool.DenyCommands {
		if pool.Redis && resp.Lookup([]byte(name)) == nil {
			return s.fail(keyLine["deny_commands"], "deny_commands", "%q is not a command of a redis pool", name)
		}
		if !pool.Redis && mc.Lookup(name) == nil {
			return s.fail(keyLine["deny_commands"], "deny_commands", "%q is not a command of a memcached pool", name)
		}
	}
	return nil
}

// checkCluster applies the rules of a cluster pool (redis_cluster: true), whose servers are the
// seed nodes of one Redis Cluster: the cluster's slots place the keys and its replicas take over
// from a failed master, so the keys that do either in other pools are refused, not ignored. The
// servers' weights mean nothing to a slot and are ignored.
func (s section) checkCluster(pool *Pool, keyLine map[string]int) error {
	const bySlot = "a cluster pool places keys by Redis Cluster slot"
	given := func(key string) bool { _, ok := keyLine[key]; return ok }
	switch {
	case given("groups"):
		return s.fail(keyLine["groups"], "groups", "not allowed with redis_cluster: a cluster pool lists seed nodes as servers, and the cluster finds its masters itself")
	case given("redis") && !pool.Redis:
		return s.fail(keyLine["redis"], "redis", "a cluster pool (redis_cluster: true) is always a redis pool")
	case given("hash"):
		return s.fail(keyLine["hash"], "hash", "not allowed with redis_cluster: %s", bySlot)
	case given("distribution"):
		return s.fail(keyLine["distribution"], "distribution", "not allowed with redis_cluster: %s", bySlot)
	case given("hash_tag") && pool.HashTag != clusterHashTag:
		return s.fail(keyLine["hash_tag"], "hash_tag", "must be %q with redis_cluster: %s, whose hash tag is %s", clusterHashTag, bySlot, clusterHashTag)
	case pool.AutoEjectHosts:
		return s.fail(keyLine["auto_eject_hosts"], "auto_eject_hosts", "not allowed with redis_cluster: the cluster fails over itself")
	}
	pool.Redis = true
	pool.HashTag = clusterHashTag
	return nil
}

// denyCommands reads deny_commands: a list of command names, in any
// letter case, which must be the pool's protocol's (checkPool, once the
// protocol is known).
func (s section) denyCommands(e entry) ([]string, error) {
	items, err := s.items(e, "command")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(items))
	for _, item := range items {
		name := strings.ToLower(item.Value)
		if slices.Contains(names, name) {
			return nil, s.fail(item.Line, e.name(), "command %q is listed twice", item.Value)
		}
		names = append(names, name)
	}
	return names, nil
}

// parseValue reads a key's value as a non-empty scalar and converts it with parse, reporting a
// failure at the value's line.
func parseValue[T any](s section, e entry, parse func(string) (T, error)) (T, error) {
	var zero T
	text, err := s.scalar(e.name(), e.value)
	if err != nil {
		return zero, err
	}
	v, err := parse(text)
	if err != nil {
		return zero, s.fail(e.value.Line, e.name(), "invalid value %q: %v", text, err)
	}
	return v, nil
}

// scalar returns the text of a non-empty scalar. Quoting does not matter, as in twemproxy:
// "400" and 400 are the same.
func (s section) scalar(key string, n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", s.fail(n.Line, key, "want a single value, got %s", describe(n))
	}
	if isNull(n) || n.Value == "" {
		return "", s.fail(n.Line, key, "missing value")
	}
	return n.Value, nil
}

// items returns the nodes of a non-empty list of non-empty scalars.
func (s section) items(e entry, what string) ([]*yaml.Node, error) {
	if e.value.Kind != yaml.SequenceNode {
		return nil, s.fail(e.value.Line, e.name(), "want a list of %ss, got %s", what, describe(e.value))
	}
	if len(e.value.Content) == 0 {
		return nil, s.fail(e.value.Line, e.name(), "want at least one %s", what)
	}
	for _, item := range e.value.Content {
		if _, err := s.scalar(e.name(), item); err != nil {
			return nil, err
		}
	}
	return e.value.Content, nil
}

func (s section) servers(e entry) ([]Server, error) {
	items, err := s.items(e, "server")
	if err != nil {
		return nil, err
	}
	servers := make([]Server, 0, len(items))
	firstLine := make(map[string]int)
	for _, item := range items {
		srv, err := parseServer(item.Value)
		if err != nil {
			return nil, s.fail(item.Line, e.name(), "invalid server %q: %v", item.Value, err)
		}
		if first, dup := firstLine[srv.RingName]; dup {
			return nil, s.fail(item.Line, e.name(), "server %q: name %q is already used at line %d", item.Value, srv.RingName, first)
		}
		firstLine[srv.RingName] = item.Line
		srv.Line = item.Line
		servers = append(servers, srv)
	}
	slices.SortFunc(servers, func(a, b Server) int { return dist.Compare(a.RingName, b.RingName) })
	return servers, nil
}

func (s section) groups(e entry) ([]string, error) {
	items, err := s.items(e, "group")
	if err != nil {
		return nil, err
	}
	groups := make([]string, 0, len(items))
	firstLine := make(map[string]int)
	for _, item := range items {
		if strings.ContainsAny(item.Value, " \t") {
			return nil, s.fail(item.Line, e.name(), "invalid group %q: a sentinel master name has no spaces", item.Value)
		}
		if first, dup := firstLine[item.Value]; dup {
			return nil, s.fail(item.Line, e.name(), "group %q is already listed at line %d", item.Value, first)
		}
		firstLine[item.Value] = item.Line
		groups = append(groups, item.Value)
	}
	slices.SortFunc(groups, dist.Compare)
	return groups, nil
}

func (s section) sentinels(e entry) ([]Sentinel, error) {
	items, err := s.items(e, "sentinel")
	if err != nil {
		return nil, err
	}
	sentinels := make([]Sentinel, 0, len(items))
	firstLine := make(map[string]int)
	for _, item := range items {
		sentinel, err := parseSentinel(item.Value)
		if err != nil {
			return nil, s.fail(item.Line, e.name(), "invalid sentinel %q: %v", item.Value, err)
		}
		if first, dup := firstLine[sentinel.Addr]; dup {
			return nil, s.fail(item.Line, e.name(), "sentinel %q is already listed at line %d", item.Value, first)
		}
		firstLine[sentinel.Addr] = item.Line
		sentinel.Line = item.Line
		sentinels = append(sentinels, sentinel)
	}
	return sentinels, nil
}

func asIs(text string) (string, error) { return text, nil }

// parseBool accepts only the two spellings twemproxy accepts.
func parseBool(text string) (bool, error) {
	switch text {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("want true or false")
}

func oneOf(names []string) func(string) (string, error) {
	return func(text string) (string, error) {
		if !slices.Contains(names, text) {
			return "", fmt.Errorf("want one of %s", strings.Join(names, ", "))
		}
		return text, nil
	}
}

func parseHashTag(text string) (string, error) {
	if len(text) != 2 {
		return "", errors.New("want exactly two characters, such as \"{}\"")
	}
	return text, nil
}

// atLeast returns a parser of decimal integers no smaller than min.
func atLeast(min int) func(string) (int, error) {
	return func(text string) (int, error) {
		n, err := parseDecimal(text)
		if err != nil {
			return 0, err
		}
		if n < min {
			return 0, fmt.Errorf("must be at least %d", min)
		}
		return n, nil
	}
}

// millis returns a parser of a whole number of milliseconds no smaller than min.
func millis(min int) func(string) (time.Duration, error) {
	return func(text string) (time.Duration, error) {
		n, err := atLeast(min)(text)
		return time.Duration(n) * time.Millisecond, err
	}
}

// parseTimeout reads a pool timeout: milliseconds, with 0 and -1 both meaning none. twemproxy 0.5
// itself rejects -1 although its documentation and defaults use it for "infinite".
func parseTimeout(text string) (time.Duration, error) {
	if text == "-1" {
		return 0, nil
	}
	return millis(0)(text)
}

// parseDecimal reads an integer written the way twemproxy's nc_atoi reads one: decimal digits
// only, leading zeros allowed (so 010 is ten, not YAML's octal eight). A leading minus sign is
// read so that range errors can say what is wrong. twemproxy keeps values in a C int and
// silently overflows; values beyond int32 are rejected here instead.
func parseDecimal(text string) (int, error) {
	digits := strings.TrimPrefix(text, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, errors.New("not a decimal integer")
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
		return 0, fmt.Errorf("out of range (at most %d)", math.MaxInt32)
	}
	return int(n), nil
}
