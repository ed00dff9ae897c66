package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// yml joins lines into a file, so a case's line numbers can be read off its position.
func yml(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// alpha is a valid pool on lines 1-4 followed by extra lines, which start at line 5.
func alpha(extra ...string) string {
	return yml(append([]string{
		"alpha:",
		"  listen: 127.0.0.1:22121",
		"  servers:",
		"   - 127.0.0.1:6379:1",
	}, extra...)...)
}

// alphaServers is a pool whose servers are listed from line 4 on.
func alphaServers(servers ...string) string {
	lines := []string{"alpha:", "  listen: 127.0.0.1:22121", "  servers:"}
	for _, s := range servers {
		lines = append(lines, "   - "+s)
	}
	return yml(lines...)
}

// alphaListen is a pool listening on listen, given on line 2.
func alphaListen(listen string) string {
	return yml("alpha:", "  listen: "+listen, "  servers:", "   - 127.0.0.1:6379:1")
}

type badCase struct {
	name string
	in   string
	want string
	// twemproxyAccepts marks the inputs twemproxy 0.5 accepts and we reject on purpose.
	twemproxyAccepts bool
}

var badCases = []badCase{
	// The file as a whole.
	{name: "empty file", in: "", want: `test.yml: no pools defined`},
	{name: "only comments", in: "# nothing\n", want: `test.yml: no pools defined`},
	{name: "only a global block", in: yml("global:", "  stats_duration: 1000"), want: `test.yml:1: no pools defined`},
	{name: "top level list", in: yml("- alpha"), want: `test.yml:1: the top level must be a mapping of pool names, got a list`},
	{name: "top level scalar", in: yml("alpha"), want: `test.yml:1: the top level must be a mapping of pool names, got "alpha"`},
	{name: "two documents", in: alpha("---", "beta: 1"), want: `test.yml:5: more than one YAML document`},
	{name: "tab indentation", in: yml("alpha:", "\tlisten: 127.0.0.1:22121"), want: `test.yml:2: invalid YAML: found character that cannot start any token`},
	{name: "error on the first line", in: yml("alpha: listen: 1"), want: `test.yml:1: invalid YAML: mapping values are not allowed in this context`},
	{name: "bad indentation", in: yml("alpha:", "  listen: 127.0.0.1:22121", " servers: 1"), want: `test.yml:3: invalid YAML: did not find expected key`},
	{name: "unclosed flow list", in: alpha("  hash_tag: [a"), want: `test.yml:5: invalid YAML: did not find expected ',' or ']'`},
	{name: "control character", in: alpha("  redis_auth: a\x01b"), want: `test.yml:5: invalid YAML: control character U+0001`},
	{name: "not UTF-8", in: alpha("  redis_auth: \xff"), want: `test.yml:5: invalid YAML: not UTF-8 text`},
	{name: "alias", in: yml("alpha: &a", "  listen: 127.0.0.1:22121", "  servers:", "   - 127.0.0.1:6379:1", "beta: *a"), want: `test.yml:5: YAML aliases are not supported`},
	{name: "complex key", in: yml("? [a]", ": 1"), want: `test.yml:1: a key must be a string, got a list`},
	{name: "pool defined twice", in: alpha("alpha:", "  listen: 127.0.0.1:22122", "  servers:", "   - 127.0.0.1:6379:1"), want: `test.yml:5: pool "alpha": defined twice (first at line 1)`},
	{name: "pool is a scalar", in: yml("alpha: 1"), want: `test.yml:1: pool "alpha": must be a mapping of pool keys, got "1"`},
	{name: "pool is empty", in: yml("alpha:"), want: `test.yml:1: pool "alpha": must be a mapping of pool keys, got nothing`},
	{name: "empty pool name", in: yml(`"":`, "  listen: 127.0.0.1:22121", "  servers:", "   - 127.0.0.1:6379:1"), want: `test.yml:1: pool "": a pool name must not be empty`},

	// Keys of a pool.
	{name: "unknown key", in: alpha("  foo: 1"), want: `test.yml:5: pool "alpha": key "foo": unknown key`},
	{name: "reuseport is newer than 0.5", in: alpha("  reuseport: true"), want: `test.yml:5: pool "alpha": key "reuseport": unknown key`},
	{name: "global key in a pool", in: alpha("  stats_duration: 1000"), want: `test.yml:5: pool "alpha": key "stats_duration": unknown pool key; it belongs in the global: block`},
	{name: "key given twice", in: alpha("  listen: 127.0.0.1:22122"), want: `test.yml:5: pool "alpha": key "listen": given twice (first at line 2)`},
	{name: "missing listen", in: yml("alpha:", "  servers:", "   - 127.0.0.1:6379:1"), want: `test.yml:1: pool "alpha": key "listen": missing`},
	{name: "missing servers", in: yml("alpha:", "  listen: 127.0.0.1:22121"), want: `test.yml:1: pool "alpha": key "servers": missing (or groups and sentinels for a sentinel pool)`},
	{name: "value missing", in: alpha("  timeout:"), want: `test.yml:5: pool "alpha": key "timeout": missing value`},
	{name: "value null", in: alpha("  hash: ~"), want: `test.yml:5: pool "alpha": key "hash": missing value`},
	{name: "value empty string", in: alpha(`  redis_auth: ""`), want: `test.yml:5: pool "alpha": key "redis_auth": missing value`},
	{name: "value is a list", in: alpha("  timeout: [400]"), want: `test.yml:5: pool "alpha": key "timeout": want a single value, got a list`},
	{name: "value is a mapping", in: alpha("  hash:", "    name: md5"), want: `test.yml:6: pool "alpha": key "hash": want a single value, got a mapping`},

	// listen.
	{name: "listen without port", in: alphaListen("127.0.0.1"), want: `test.yml:2: pool "alpha": key "listen": invalid value "127.0.0.1": want "host:port" or "/unix/path [perm]": missing port`},
	{name: "listen port 0", in: alphaListen("127.0.0.1:0"), want: `test.yml:2: pool "alpha": key "listen": invalid value "127.0.0.1:0": want "host:port" or "/unix/path [perm]": port "0" is not a number from 1 to 65535`},
	{name: "listen port too big", in: alphaListen("127.0.0.1:99999"), want: `test.yml:2: pool "alpha": key "listen": invalid value "127.0.0.1:99999": want "host:port" or "/unix/path [perm]": port "99999" is not a number from 1 to 65535`},
	{name: "listen without host", in: alphaListen(":22121"), want: `test.yml:2: pool "alpha": key "listen": invalid value ":22121": want "host:port" or "/unix/path [perm]": missing host`},
	{name: "listen with a weight", in: alphaListen("127.0.0.1:22121:1"), want: `test.yml:2: pool "alpha": key "listen": invalid value "127.0.0.1:22121:1": want "host:port" or "/unix/path [perm]": host "127.0.0.1:22121" is neither a name nor an IP address`},
	{name: "listen tcp with permission", in: alphaListen("127.0.0.1:22121 0666"), want: `test.yml:2: pool "alpha": key "listen": invalid value "127.0.0.1:22121 0666": want "host:port" (a permission is only for "/unix/path 0666")`},
	{name: "listen IPv4 in brackets", in: alphaListen(`"[127.0.0.1]:22121"`), want: `test.yml:2: pool "alpha": key "listen": invalid value "[127.0.0.1]:22121": want "host:port" or "/unix/path [perm]": only an IPv6 address goes in brackets, got "[127.0.0.1]"`},
	{name: "listen permission not octal", in: alphaListen("/tmp/nc.sock 0999"), want: `test.yml:2: pool "alpha": key "listen": invalid value "/tmp/nc.sock 0999": permission "0999" is not an octal mode such as 0666`,
		twemproxyAccepts: true}, // strtol stops at the 9 and the socket gets mode 0
	{name: "listen permission too big", in: alphaListen("/tmp/nc.sock 01777"), want: `test.yml:2: pool "alpha": key "listen": invalid value "/tmp/nc.sock 01777": permission "01777" is not an octal mode such as 0666`},
	{name: "same listen in two pools", in: alpha("beta:", "  listen: 127.0.0.1:22121", "  servers:", "   - 127.0.0.1:6380:1"), want: `test.yml:6: pool "beta": key "listen": address "127.0.0.1:22121" is already used by pool "alpha" (line 1)`},
	{name: "same unix listen in two pools", in: yml("b:", "  listen: /tmp/nc.sock", "  servers:", "   - 127.0.0.1:6379:1", "a:", "  listen: /tmp/nc.sock 0600", "  servers:", "   - 127.0.0.1:6379:1"), want: `test.yml:6: pool "a": key "listen": address "/tmp/nc.sock" is already used by pool "b" (line 1)`,
		twemproxyAccepts: true}, // it compares the text, permission included, and fails later at bind

	// Other pool values.
	{name: "unknown hash", in: alpha("  hash: sha1"), want: `test.yml:5: pool "alpha": key "hash": invalid value "sha1": want one of one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins`},
	{name: "hash in capitals", in: alpha("  hash: FNV1A_64"), want: `test.yml:5: pool "alpha": key "hash": invalid value "FNV1A_64": want one of one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins`},
	{name: "unknown distribution", in: alpha("  distribution: vnode"), want: `test.yml:5: pool "alpha": key "distribution": invalid value "vnode": want one of ketama, modula, random`},
	{name: "hash_tag of one character", in: alpha(`  hash_tag: "{"`), want: `test.yml:5: pool "alpha": key "hash_tag": invalid value "{": want exactly two characters, such as "{}"`},
	{name: "hash_tag of three characters", in: alpha(`  hash_tag: "{}x"`), want: `test.yml:5: pool "alpha": key "hash_tag": invalid value "{}x": want exactly two characters, such as "{}"`},
	{name: "negative timeout", in: alpha("  timeout: -5"), want: `test.yml:5: pool "alpha": key "timeout": invalid value "-5": must be at least 0`},
	{name: "timeout not a number", in: alpha("  timeout: soon"), want: `test.yml:5: pool "alpha": key "timeout": invalid value "soon": not a decimal integer`},
	{name: "timeout with a fraction", in: alpha("  timeout: 1.5"), want: `test.yml:5: pool "alpha": key "timeout": invalid value "1.5": not a decimal integer`},
	{name: "timeout in hex", in: alpha("  timeout: 0x10"), want: `test.yml:5: pool "alpha": key "timeout": invalid value "0x10": not a decimal integer`},
	{name: "timeout with a plus sign", in: alpha("  timeout: +400"), want: `test.yml:5: pool "alpha": key "timeout": invalid value "+400": not a decimal integer`},
	{name: "timeout with underscores", in: alpha("  timeout: 1_000"), want: `test.yml:5: pool "alpha": key "timeout": invalid value "1_000": not a decimal integer`},
	{name: "timeout beyond int32", in: alpha("  timeout: 99999999999"), want: `test.yml:5: pool "alpha": key "timeout": invalid value "99999999999": out of range (at most 2147483647)`,
		twemproxyAccepts: true}, // it overflows silently
	{name: "negative backlog", in: alpha("  backlog: -1"), want: `test.yml:5: pool "alpha": key "backlog": invalid value "-1": must be at least 0`},
	{name: "negative client_connections", in: alpha("  client_connections: -1"), want: `test.yml:5: pool "alpha": key "client_connections": invalid value "-1": must be at least 0`},
	{name: "bool yes", in: alpha("  redis: yes"), want: `test.yml:5: pool "alpha": key "redis": invalid value "yes": want true or false`},
	{name: "bool in capitals", in: alpha("  preconnect: TRUE"), want: `test.yml:5: pool "alpha": key "preconnect": invalid value "TRUE": want true or false`},
	{name: "bool as number", in: alpha("  tcpkeepalive: 1"), want: `test.yml:5: pool "alpha": key "tcpkeepalive": invalid value "1": want true or false`},
	{name: "server_connections 0", in: alpha("  server_connections: 0"), want: `test.yml:5: pool "alpha": key "server_connections": invalid value "0": must be at least 1`},
	{name: "negative redis_db", in: alpha("  redis: true", "  redis_db: -1"), want: `test.yml:6: pool "alpha": key "redis_db": invalid value "-1": must be at least 0`},
	{name: "redis_auth on a memcache pool", in: alpha("  redis_auth: secret"), want: `test.yml:5: pool "alpha": key "redis_auth": only valid for a redis pool (redis: true)`},
	{name: "redis_auth with redis false", in: alpha("  redis: false", "  redis_auth: secret"), want: `test.yml:6: pool "alpha": key "redis_auth": only valid for a redis pool (redis: true)`},
	{name: "negative server_retry_timeout", in: alpha("  server_retry_timeout: -1"), want: `test.yml:5: pool "alpha": key "server_retry_timeout": invalid value "-1": must be at least 0`},
	{name: "negative server_failure_limit", in: alpha("  server_failure_limit: -1"), want: `test.yml:5: pool "alpha": key "server_failure_limit": invalid value "-1": must be at least 0`},
	{name: "deny_commands scalar", in: alpha("  redis: true", "  deny_commands: keys"), want: `test.yml:6: pool "alpha": key "deny_commands": want a list of commands, got "keys"`},
	{name: "deny_commands empty", in: alpha("  redis: true", "  deny_commands: []"), want: `test.yml:6: pool "alpha": key "deny_commands": want at least one command`},
	{name: "deny_commands unknown", in: alpha("  redis: true", "  deny_commands: [flushall, nosuch]"), want: `test.yml:6: pool "alpha": key "deny_commands": "nosuch" is not a command of a redis pool`},
	{name: "deny_commands of redis on memcache", in: alpha("  deny_commands: [flushall]"), want: `test.yml:5: pool "alpha": key "deny_commands": "flushall" is not a command of a memcached pool`},
	{name: "deny_commands twice", in: alpha("  redis: true", "  deny_commands: [keys, KEYS]"), want: `test.yml:6: pool "alpha": key "deny_commands": command "KEYS" is listed twice`},
	{name: "negative slow_req_duration", in: alpha("  slow_req_duration: -1"), want: `test.yml:5: pool "alpha": key "slow_req_duration": invalid value "-1": must be at least 0`},

	// servers.
	{name: "servers is a scalar", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  servers: 127.0.0.1:6379:1"), want: `test.yml:3: pool "alpha": key "servers": want a list of servers, got "127.0.0.1:6379:1"`},
	{name: "servers is empty", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  servers: []"), want: `test.yml:3: pool "alpha": key "servers": want at least one server`},
	{name: "server is a list", in: alphaServers("[127.0.0.1, 6379]"), want: `test.yml:4: pool "alpha": key "servers": want a single value, got a list`},
	{name: "server is empty", in: alphaServers("127.0.0.1:6379:1", ""), want: `test.yml:5: pool "alpha": key "servers": missing value`},
	{name: "weight 0", in: alphaServers("127.0.0.1:6379:0"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379:0": weight must be at least 1`},
	{name: "negative weight", in: alphaServers("127.0.0.1:6379:-1"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379:-1": weight must be at least 1`},
	{name: "weight not a number", in: alphaServers("127.0.0.1:6379:x"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379:x": weight: not a decimal integer`},
	{name: "weight beyond int32", in: alphaServers("127.0.0.1:6379:99999999999"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379:99999999999": weight: out of range (at most 2147483647)`,
		twemproxyAccepts: true},
	{name: "server without weight", in: alphaServers("127.0.0.1:6379"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379": want "host:port:weight [name]" or "/unix/path:weight [name]"`},
	{name: "server without port or weight", in: alphaServers("redis1"), want: `test.yml:4: pool "alpha": key "servers": invalid server "redis1": want "host:port:weight [name]" or "/unix/path:weight [name]"`},
	{name: "server port not a number", in: alphaServers("127.0.0.1:redis:1"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:redis:1": want "host:port:weight [name]": port "redis" is not a number from 1 to 65535`},
	{name: "server port 0", in: alphaServers("127.0.0.1:0:1"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:0:1": want "host:port:weight [name]": port "0" is not a number from 1 to 65535`},
	{name: "server port too big", in: alphaServers("127.0.0.1:70000:1"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:70000:1": want "host:port:weight [name]": port "70000" is not a number from 1 to 65535`},
	{name: "server without host", in: alphaServers(":6379:1"), want: `test.yml:4: pool "alpha": key "servers": invalid server ":6379:1": want "host:port:weight [name]": missing host`,
		twemproxyAccepts: true},
	{name: "server with two names", in: alphaServers("127.0.0.1:6379:1 a b"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379:1 a b": want "host:port:weight [name]": a name is one word after a single space`},
	{name: "server with two spaces before its name", in: alphaServers("127.0.0.1:6379:1  a"), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379:1  a": want "host:port:weight [name]": a name is one word after a single space`},
	{name: "server with an empty name", in: alphaServers(`"127.0.0.1:6379:1 "`), want: `test.yml:4: pool "alpha": key "servers": invalid server "127.0.0.1:6379:1 ": want "host:port:weight [name]": a name is one word after a single space`,
		twemproxyAccepts: true},
	{name: "unix server without weight", in: alphaServers("/tmp/redis.sock"), want: `test.yml:4: pool "alpha": key "servers": invalid server "/tmp/redis.sock": want "host:port:weight [name]" or "/unix/path:weight [name]"`},
	{name: "same server name twice", in: alphaServers("127.0.0.1:6379:1 a", "127.0.0.1:6380:1 a"), want: `test.yml:5: pool "alpha": key "servers": server "127.0.0.1:6380:1 a": name "a" is already used at line 4`},
	{name: "same server twice", in: alphaServers("127.0.0.1:6379:1", "127.0.0.1:6379:2"), want: `test.yml:5: pool "alpha": key "servers": server "127.0.0.1:6379:2": name "127.0.0.1:6379" is already used at line 4`},
	{name: "name equal to another server's address", in: alphaServers("127.0.0.1:6379:1 127.0.0.1:6380", "127.0.0.1:6380:1"), want: `test.yml:5: pool "alpha": key "servers": server "127.0.0.1:6380:1": name "127.0.0.1:6380" is already used at line 4`},
	{name: "name equal to a memcached default-port ring name", in: alphaServers("127.0.0.1:11211:1", "127.0.0.1:6379:1 127.0.0.1"), want: `test.yml:5: pool "alpha": key "servers": server "127.0.0.1:6379:1 127.0.0.1": name "127.0.0.1" is already used at line 4`},

	// Sentinel pools (twemproxy-163).
	{name: "groups and servers", in: alpha("  groups:", "   - master-a", "  sentinels:", "   - 127.0.0.1:26379"), want: `test.yml:5: pool "alpha": key "groups": not allowed together with servers: a pool lists either servers or sentinel groups`},
	{name: "sentinels and servers", in: alpha("  sentinels:", "   - 127.0.0.1:26379"), want: `test.yml:5: pool "alpha": key "sentinels": not allowed together with servers: sentinels only find the masters of groups`},
	{name: "groups without sentinels", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  groups:", "   - master-a"), want: `test.yml:1: pool "alpha": key "sentinels": missing: a pool with groups needs sentinels to find them`},
	{name: "sentinels without groups", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  sentinels:", "   - 127.0.0.1:26379"), want: `test.yml:1: pool "alpha": key "groups": missing: a pool with sentinels needs groups to look up`},
	{name: "sentinel_heartbeat without groups", in: alpha("  sentinel_heartbeat: 500"), want: `test.yml:5: pool "alpha": key "sentinel_heartbeat": only valid in a sentinel pool (with groups and sentinels)`},
	{name: "sentinel_auth without groups", in: alpha("  sentinel_auth: pw"), want: `test.yml:5: pool "alpha": key "sentinel_auth": only valid in a sentinel pool (with groups and sentinels)`},
	{name: "sentinel pool not redis", in: sentinelPool("  redis: false"), want: `test.yml:7: pool "alpha": key "redis": a sentinel pool is always a redis pool`},
	{name: "sentinel_heartbeat 0", in: sentinelPool("  sentinel_heartbeat: 0"), want: `test.yml:7: pool "alpha": key "sentinel_heartbeat": invalid value "0": must be at least 1`},
	{name: "groups empty", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  groups: []", "  sentinels:", "   - 127.0.0.1:26379"), want: `test.yml:3: pool "alpha": key "groups": want at least one group`},
	{name: "group with a space", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  groups:", "   - master a", "  sentinels:", "   - 127.0.0.1:26379"), want: `test.yml:4: pool "alpha": key "groups": invalid group "master a": a sentinel master name has no spaces`},
	{name: "group twice", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  groups:", "   - master-a", "   - master-a", "  sentinels:", "   - 127.0.0.1:26379"), want: `test.yml:5: pool "alpha": key "groups": group "master-a" is already listed at line 4`},
	{name: "sentinel without port", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  groups:", "   - master-a", "  sentinels:", "   - 127.0.0.1"), want: `test.yml:6: pool "alpha": key "sentinels": invalid sentinel "127.0.0.1": want "host:port [name]": missing port`},
	{name: "sentinel with a weight", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  groups:", "   - master-a", "  sentinels:", "   - 127.0.0.1:26379:1"), want: `test.yml:6: pool "alpha": key "sentinels": invalid sentinel "127.0.0.1:26379:1": want "host:port [name]": host "127.0.0.1:26379" is neither a name nor an IP address`},
	{name: "sentinel twice", in: yml("alpha:", "  listen: 127.0.0.1:22121", "  groups:", "   - master-a", "  sentinels:", "   - 127.0.0.1:26379 s1", "   - 127.0.0.1:26379 s2"), want: `test.yml:7: pool "alpha": key "sentinels": sentinel "127.0.0.1:26379 s2" is already listed at line 6`},

	// Cluster pools (our extension).
	{name: "redis_cluster not a bool", in: alpha("  redis_cluster: yes"), want: `test.yml:5: pool "alpha": key "redis_cluster": invalid value "yes": want true or false`},
	{name: "cluster pool with hash", in: alpha("  redis_cluster: true", "  hash: crc16"), want: `test.yml:6: pool "alpha": key "hash": not allowed with redis_cluster: a cluster pool places keys by Redis Cluster slot`},
	{name: "cluster pool with distribution", in: alpha("  distribution: modula", "  redis_cluster: true"), want: `test.yml:5: pool "alpha": key "distribution": not allowed with redis_cluster: a cluster pool places keys by Redis Cluster slot`},
	{name: "cluster pool with another hash_tag", in: alpha("  redis_cluster: true", `  hash_tag: "[]"`), want: `test.yml:6: pool "alpha": key "hash_tag": must be "{}" with redis_cluster: a cluster pool places keys by Redis Cluster slot, whose hash tag is {}`},
	{name: "cluster pool with auto_eject_hosts", in: alpha("  redis_cluster: true", "  auto_eject_hosts: true"), want: `test.yml:6: pool "alpha": key "auto_eject_hosts": not allowed with redis_cluster: the cluster fails over itself`},
	{name: "cluster pool not redis", in: alpha("  redis: false", "  redis_cluster: true"), want: `test.yml:5: pool "alpha": key "redis": a cluster pool (redis_cluster: true) is always a redis pool`},
	{name: "cluster pool with groups", in: sentinelPool("  redis_cluster: true"), want: `test.yml:3: pool "alpha": key "groups": not allowed with redis_cluster: a cluster pool lists seed nodes as servers, and the cluster finds its masters itself`},
	{name: "cluster pool with sentinels", in: alpha("  redis_cluster: true", "  sentinels:", "   - 127.0.0.1:26379"), want: `test.yml:6: pool "alpha": key "sentinels": not allowed together with servers: sentinels only find the masters of groups`},

	// The global block (bilitw).
	{name: "global unknown key", in: alpha("global:", "  workers: 4"), want: `test.yml:6: global: key "workers": unknown key`},
	{name: "global not a mapping", in: alpha("global: 5"), want: `test.yml:5: global: must be a mapping of keys, got "5"`},
	{name: "global stats_duration 0", in: alpha("global:", "  stats_duration: 0"), want: `test.yml:6: global: key "stats_duration": invalid value "0": must be at least 1`},
	{name: "global reload_timeout not a number", in: alpha("global:", "  reload_timeout: 2m"), want: `test.yml:6: global: key "reload_timeout": invalid value "2m": not a decimal integer`},
	{name: "global key twice", in: alpha("global:", "  stats_file: /tmp/a", "  stats_file: /tmp/b"), want: `test.yml:7: global: key "stats_file": given twice (first at line 6)`},
	{name: "global block twice", in: alpha("global:", "  stats_file: /tmp/a", "global:", "  stats_file: /tmp/b"), want: `test.yml:7: global: defined twice (first at line 5)`},
}

// sentinelPool is a valid sentinel pool on lines 1-6 followed by extra lines from line 7.
func sentinelPool(extra ...string) string {
	return yml(append([]string{
		"alpha:",
		"  listen: 127.0.0.1:22121",
		"  groups:",
		"   - master-a",
		"  sentinels:",
		"   - 127.0.0.1:26379",
	}, extra...)...)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("test.yml", []byte(tc.in))
			if err == nil {
				t.Fatalf("Parse succeeded with %d pools, want error %q", len(cfg.Pools), tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Errorf("error is %T, want *Error", err)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse("test.yml", []byte(alpha("  timeout: soon")))
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("error %v is %T, want *Error", err, err)
	}
	want := Error{File: "test.yml", Line: 5, Scope: `pool "alpha"`, Key: "timeout", Problem: `invalid value "soon": not a decimal integer`}
	if *cfgErr != want {
		t.Errorf("got %+v, want %+v", *cfgErr, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yml")
	_, err := Load(path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(%q) error = %v, want one wrapping os.ErrNotExist", path, err)
	}
	if want := "load config: open " + path + ": no such file or directory"; err.Error() != want {
		t.Errorf("error\n got: %s\nwant: %s", err, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("test.yml", []byte(alpha()))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File: "test.yml",
		Global: Global{
			StatsDuration: 300 * time.Second,
			ReloadTimeout: 120 * time.Second,
			StatsFile:     "/tmp/twstats.log",
		},
		Pools: []*Pool{{
			Name:               "alpha",
			Listen:             Listen{Network: "tcp", Addr: "127.0.0.1:22121"},
			Hash:               "fnv1a_64",
			Distribution:       "ketama",
			Backlog:            512,
			ServerConnections:  1,
			ServerRetryTimeout: 30 * time.Second,
			ServerFailureLimit: 2,
			Servers: []Server{{
				Addr: "127.0.0.1:6379", Network: "tcp", Host: "127.0.0.1", Port: 6379,
				Weight: 1, RingName: "127.0.0.1:6379", Line: 4,
			}},
			SentinelHeartbeat: time.Second,
			Line:              1,
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg.Pools[0], want.Pools[0])
	}
}

func TestEveryPoolKey(t *testing.T) {
	in := yml(
		"global:",
		"  stats_duration: 60000",
		"  reload_timeout: 5000",
		"  slow_req_duration: 50",
		"  stats_file: /var/log/tw.log",
		"alpha:",
		"  listen: /tmp/alpha.sock 0660",
		"  client_connections: 1000",
		"  hash: murmur",
		`  hash_tag: "{}"`,
		"  distribution: modula",
		"  timeout: 400",
		"  backlog: 1024",
		"  preconnect: true",
		"  redis: true",
		"  redis_auth: s3cret",
		"  redis_db: 3",
		"  server_connections: 4",
		"  auto_eject_hosts: true",
		"  server_retry_timeout: 2000",
		"  server_failure_limit: 3",
		"  tcpkeepalive: true",
		"  slow_req_duration: 20",
		"  servers:",
		"   - 10.0.0.1:6379:2 redis-a",
		"   - /var/run/redis.sock:1",
	)
	cfg, err := Parse("test.yml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	wantGlobal := Global{
		Present:         true,
		StatsDuration:   time.Minute,
		ReloadTimeout:   5 * time.Second,
		SlowReqDuration: 50 * time.Millisecond,
		StatsFile:       "/var/log/tw.log",
	}
	if cfg.Global != wantGlobal {
		t.Errorf("global: got %+v, want %+v", cfg.Global, wantGlobal)
	}
	want := &Pool{
		Name:               "alpha",
		Listen:             Listen{Network: "unix", Addr: "/tmp/alpha.sock", Perm: 0o660},
		ClientConnections:  1000,
		Hash:               "murmur",
		HashTag:            "{}",
		Distribution:       "modula",
		Timeout:            400 * time.Millisecond,
		Backlog:            1024,
		Preconnect:         true,
		Redis:              true,
		RedisAuth:          "s3cret",
		RedisDB:            3,
		ServerConnections:  4,
		AutoEjectHosts:     true,
		ServerRetryTimeout: 2 * time.Second,
		ServerFailureLimit: 3,
		TCPKeepalive:       true,
		SlowReqDuration:    20 * time.Millisecond,
		Servers: []Server{
			{Addr: "10.0.0.1:6379", Network: "tcp", Host: "10.0.0.1", Port: 6379, Weight: 2, Name: "redis-a", RingName: "redis-a", Line: 25},
			{Addr: "/var/run/redis.sock", Network: "unix", Weight: 1, RingName: "/var/run/redis.sock", Line: 26},
		},
		SentinelHeartbeat: time.Second,
		Line:              6,
	}
	if len(cfg.Pools) != 1 || !reflect.DeepEqual(cfg.Pools[0], want) {
		t.Errorf("got  %+v\nwant %+v", cfg.Pools[0], want)
	}
}

type valueCase struct {
	line  string // a pool key line, appended to alpha() at line 5
	field func(*Pool) any
	want  any
	// twemproxyRejects marks the inputs we accept and twemproxy 0.5 rejects.
	twemproxyRejects bool
}

var valueCases = []valueCase{
	{line: "  timeout: 400", field: func(p *Pool) any { return p.Timeout }, want: 400 * time.Millisecond},
	{line: `  timeout: "400"`, field: func(p *Pool) any { return p.Timeout }, want: 400 * time.Millisecond},
	{line: "  timeout: 010", field: func(p *Pool) any { return p.Timeout }, want: 10 * time.Millisecond},
	{line: "  timeout: 0", field: func(p *Pool) any { return p.Timeout }, want: time.Duration(0)},
	{line: "  timeout: -1", field: func(p *Pool) any { return p.Timeout }, want: time.Duration(0), twemproxyRejects: true},
	{line: "  timeout: 2147483647", field: func(p *Pool) any { return p.Timeout }, want: 2147483647 * time.Millisecond},
	{line: "  redis: true", field: func(p *Pool) any { return p.Redis }, want: true},
	{line: `  redis: "true"`, field: func(p *Pool) any { return p.Redis }, want: true},
	{line: "  redis: false", field: func(p *Pool) any { return p.Redis }, want: false},
	{line: `  hash_tag: "$$"`, field: func(p *Pool) any { return p.HashTag }, want: "$$"},
	{line: "  hash_tag: ab", field: func(p *Pool) any { return p.HashTag }, want: "ab"},
	{line: "  hash: one_at_a_time", field: func(p *Pool) any { return p.Hash }, want: "one_at_a_time"},
	{line: "  hash: md5", field: func(p *Pool) any { return p.Hash }, want: "md5"},
	{line: "  hash: crc16", field: func(p *Pool) any { return p.Hash }, want: "crc16"},
	{line: "  hash: crc32", field: func(p *Pool) any { return p.Hash }, want: "crc32"},
	{line: "  hash: crc32a", field: func(p *Pool) any { return p.Hash }, want: "crc32a"},
	{line: "  hash: fnv1_64", field: func(p *Pool) any { return p.Hash }, want: "fnv1_64"},
	{line: "  hash: fnv1a_64", field: func(p *Pool) any { return p.Hash }, want: "fnv1a_64"},
	{line: "  hash: fnv1_32", field: func(p *Pool) any { return p.Hash }, want: "fnv1_32"},
	{line: "  hash: fnv1a_32", field: func(p *Pool) any { return p.Hash }, want: "fnv1a_32"},
	{line: "  hash: hsieh", field: func(p *Pool) any { return p.Hash }, want: "hsieh"},
	{line: "  hash: murmur", field: func(p *Pool) any { return p.Hash }, want: "murmur"},
	{line: "  hash: jenkins", field: func(p *Pool) any { return p.Hash }, want: "jenkins"},
	{line: "  distribution: random", field: func(p *Pool) any { return p.Distribution }, want: "random"},
	{line: "  backlog: 0", field: func(p *Pool) any { return p.Backlog }, want: 0},
	{line: "  server_failure_limit: 0", field: func(p *Pool) any { return p.ServerFailureLimit }, want: 0},
	{line: "  server_retry_timeout: 0", field: func(p *Pool) any { return p.ServerRetryTimeout }, want: time.Duration(0)},
	{line: "  redis_db: 5", field: func(p *Pool) any { return p.RedisDB }, want: 5}, // twemproxy accepts it on a memcache pool too
	{line: "  redis_cluster: false", field: func(p *Pool) any { return p.RedisCluster }, want: false, twemproxyRejects: true},
	{line: "  redis_cluster: true", field: func(p *Pool) any { return p.RedisCluster }, want: true, twemproxyRejects: true},
	{line: "  redis_cluster: true", field: func(p *Pool) any { return p.Redis }, want: true, twemproxyRejects: true},
	{line: "  redis_cluster: true", field: func(p *Pool) any { return p.HashTag }, want: "{}", twemproxyRejects: true},
}

func TestValues(t *testing.T) {
	for _, tc := range valueCases {
		t.Run(tc.line, func(t *testing.T) {
			cfg, err := Parse("test.yml", []byte(alpha(tc.line)))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.field(cfg.Pools[0]); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestClusterPool: a cluster pool takes the keys that agree with Redis Cluster (hash_tag "{}",
// auto_eject_hosts false) and servers of any weight, and is a redis pool with hash tag "{}".
func TestClusterPool(t *testing.T) {
	cfg, err := Parse("test.yml", []byte(yml(
		"alpha:",
		"  listen: 127.0.0.1:22121",
		"  redis_cluster: true",
		`  hash_tag: "{}"`,
		"  auto_eject_hosts: false",
		"  redis_auth: secret",
		"  servers:",
		"   - 127.0.0.1:7000:1",
		"   - 127.0.0.1:7001:5 seed-b",
	)))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0]
	if !p.RedisCluster || !p.Redis || p.HashTag != "{}" || p.AutoEjectHosts || len(p.Servers) != 2 || p.RedisAuth != "secret" {
		t.Errorf("cluster pool %+v", p)
	}
	if got := p.Listen.TCPAddr(); got != "127.0.0.1:22121" {
		t.Errorf("TCPAddr %q", got)
	}
	if got := (Listen{Network: "unix", Addr: "/tmp/nc.sock"}).TCPAddr(); got != "" {
		t.Errorf("TCPAddr of a unix socket %q, want none", got)
	}
}

type listenCase struct {
	in               string
	want             Listen
	twemproxyRejects bool
}

var listenCases = []listenCase{
	{in: "127.0.0.1:22121", want: Listen{Network: "tcp", Addr: "127.0.0.1:22121"}},
	{in: "0.0.0.0:22121", want: Listen{Network: "tcp", Addr: "0.0.0.0:22121"}},
	{in: "localhost:22121", want: Listen{Network: "tcp", Addr: "localhost:22121"}},
	{in: "::1:22121", want: Listen{Network: "tcp", Addr: "[::1]:22121"}},
	{in: `"[::1]:22121"`, want: Listen{Network: "tcp", Addr: "[::1]:22121"}, twemproxyRejects: true},
	{in: "/tmp/gamma", want: Listen{Network: "unix", Addr: "/tmp/gamma"}},
	{in: "/tmp/gamma 0666", want: Listen{Network: "unix", Addr: "/tmp/gamma", Perm: 0o666}},
	{in: "/tmp/gamma 600", want: Listen{Network: "unix", Addr: "/tmp/gamma", Perm: 0o600}},
}

func TestListen(t *testing.T) {
	for _, tc := range listenCases {
		t.Run(tc.in, func(t *testing.T) {
			cfg, err := Parse("test.yml", []byte(alphaListen(tc.in)))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Pools[0].Listen; got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

type serverCase struct {
	in               string
	want             Server // without Line
	twemproxyRejects bool
	// twemproxyRingName is the ring name twemproxy 0.5 gives the server, where it differs from
	// want.RingName.
	twemproxyRingName string
}

var serverCases = []serverCase{
	{in: "127.0.0.1:6379:1", want: Server{Addr: "127.0.0.1:6379", Network: "tcp", Host: "127.0.0.1", Port: 6379, Weight: 1, RingName: "127.0.0.1:6379"}},
	{in: "127.0.0.1:11211:1", want: Server{Addr: "127.0.0.1:11211", Network: "tcp", Host: "127.0.0.1", Port: 11211, Weight: 1, RingName: "127.0.0.1"}},
	{in: "127.0.0.1:11211:3 mc1", want: Server{Addr: "127.0.0.1:11211", Network: "tcp", Host: "127.0.0.1", Port: 11211, Weight: 3, Name: "mc1", RingName: "mc1"}},
	{in: "127.0.0.1:6379:2 server1", want: Server{Addr: "127.0.0.1:6379", Network: "tcp", Host: "127.0.0.1", Port: 6379, Weight: 2, Name: "server1", RingName: "server1"}},
	{in: "127.0.0.1:6379:1 a:b", want: Server{Addr: "127.0.0.1:6379", Network: "tcp", Host: "127.0.0.1", Port: 6379, Weight: 1, Name: "a:b", RingName: "a:b"}},
	{in: "cache-1.example.com:11212:10", want: Server{Addr: "cache-1.example.com:11212", Network: "tcp", Host: "cache-1.example.com", Port: 11212, Weight: 10, RingName: "cache-1.example.com:11212"}},
	{in: "127.0.0.1:06379:01", want: Server{Addr: "127.0.0.1:06379", Network: "tcp", Host: "127.0.0.1", Port: 6379, Weight: 1, RingName: "127.0.0.1:06379"}},
	{in: "::1:6379:1", want: Server{Addr: "::1:6379", Network: "tcp", Host: "::1", Port: 6379, Weight: 1, RingName: "::1:6379"}},
	{in: "::1:11211:1", want: Server{Addr: "::1:11211", Network: "tcp", Host: "::1", Port: 11211, Weight: 1, RingName: "::1"}},
	{in: "[::1]:6379:1", want: Server{Addr: "[::1]:6379", Network: "tcp", Host: "::1", Port: 6379, Weight: 1, RingName: "[::1]:6379"}},
	{in: "[::1]:11211:1", want: Server{Addr: "[::1]:11211", Network: "tcp", Host: "::1", Port: 11211, Weight: 1, RingName: "[::1]"}},
	{in: "127.0.0.1:011211:1", want: Server{Addr: "127.0.0.1:011211", Network: "tcp", Host: "127.0.0.1", Port: 11211, Weight: 1, RingName: "127.0.0.1"}},
	{in: "cache-1.example.com:11211:1", want: Server{Addr: "cache-1.example.com:11211", Network: "tcp", Host: "cache-1.example.com", Port: 11211, Weight: 1, RingName: "cache-1.example.com"}},
	// twemproxy names an unnamed unix socket by its path and the colon before the weight; we
	// name it by its path alone.
	{in: "/tmp/redis.sock:1", want: Server{Addr: "/tmp/redis.sock", Network: "unix", Weight: 1, RingName: "/tmp/redis.sock"}, twemproxyRingName: "/tmp/redis.sock:"},
	{in: "/tmp/redis.sock:5 local", want: Server{Addr: "/tmp/redis.sock", Network: "unix", Weight: 5, Name: "local", RingName: "local"}},
}

func TestServers(t *testing.T) {
	for _, tc := range serverCases {
		t.Run(tc.in, func(t *testing.T) {
			cfg, err := Parse("test.yml", []byte(alphaServers(`"`+tc.in+`"`)))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Line = 4
			if got := cfg.Pools[0].Servers; len(got) != 1 || got[0] != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestSortOrder checks twemproxy's string_compare order: shorter names first, then bytewise.
func TestSortOrder(t *testing.T) {
	in := yml(
		"zz:",
		"  listen: 127.0.0.1:22121",
		"  distribution: modula",
		"  servers:",
		"   - 127.0.0.1:17301:1 zz",
		"   - 127.0.0.1:17302:2 a",
		"   - 127.0.0.1:17303:1 bbb",
		"   - 127.0.0.1:17304:1 B",
		"a:",
		"  listen: 127.0.0.1:22122",
		"  servers:",
		"   - 127.0.0.2:11211:1",
		"   - 127.0.0.1:11211:1",
		"   - 127.0.0.1:6379:1",
		"   - 127.0.0.1:11212:1",
		"bbb:",
		"  listen: 127.0.0.1:22123",
		"  groups:",
		"   - shard-10",
		"   - shard-9",
		"   - b",
		"  sentinels:",
		"   - 127.0.0.1:26380",
		"   - 127.0.0.1:26379",
		"B:",
		"  listen: 127.0.0.1:22124",
		"  servers:",
		"   - 127.0.0.1:6379:1",
	)
	cfg, err := Parse("test.yml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var pools []string
	for _, p := range cfg.Pools {
		pools = append(pools, p.Name)
	}
	if want := []string{"B", "a", "zz", "bbb"}; !slices.Equal(pools, want) {
		t.Errorf("pools %q, want %q", pools, want)
	}
	ringNames := func(p *Pool) []string {
		var names []string
		for _, s := range p.Servers {
			names = append(names, s.RingName)
		}
		return names
	}
	if got, want := ringNames(cfg.Pools[2]), []string{"B", "a", "zz", "bbb"}; !slices.Equal(got, want) {
		t.Errorf("pool zz servers %q, want %q", got, want)
	}
	if got, want := ringNames(cfg.Pools[1]), []string{"127.0.0.1", "127.0.0.2", "127.0.0.1:6379", "127.0.0.1:11212"}; !slices.Equal(got, want) {
		t.Errorf("pool a servers %q, want %q", got, want)
	}
	if got, want := cfg.Pools[3].Groups, []string{"b", "shard-9", "shard-10"}; !slices.Equal(got, want) {
		t.Errorf("pool bbb groups %q, want %q", got, want)
	}
	want := []Sentinel{{Addr: "127.0.0.1:26380", Line: 23}, {Addr: "127.0.0.1:26379", Line: 24}}
	if got := cfg.Pools[3].Sentinels; !slices.Equal(got, want) {
		t.Errorf("pool bbb sentinels %+v, want them in file order %+v", got, want)
	}
}

func TestSentinelPool(t *testing.T) {
	cfg, err := Parse("test.yml", []byte(sentinelPool(
		"   - 127.0.0.1:26380 backup",
		"   - ::1:26381",
		"  sentinel_heartbeat: 500",
		"  redis_auth: pw",
		"  sentinel_auth: spw",
	)))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0]
	if !p.Redis {
		t.Error("a sentinel pool is not a redis pool")
	}
	if p.Servers != nil {
		t.Errorf("servers %+v, want none", p.Servers)
	}
	if want := []string{"master-a"}; !slices.Equal(p.Groups, want) {
		t.Errorf("groups %q, want %q", p.Groups, want)
	}
	wantSentinels := []Sentinel{
		{Addr: "127.0.0.1:26379", Line: 6},
		{Addr: "127.0.0.1:26380", Name: "backup", Line: 7},
		{Addr: "[::1]:26381", Line: 8},
	}
	if !slices.Equal(p.Sentinels, wantSentinels) {
		t.Errorf("sentinels %+v, want %+v", p.Sentinels, wantSentinels)
	}
	if p.SentinelHeartbeat != 500*time.Millisecond {
		t.Errorf("sentinel_heartbeat %v, want 500ms", p.SentinelHeartbeat)
	}
	if p.RedisAuth != "pw" || p.SentinelAuth != "spw" {
		t.Errorf("redis_auth %q, sentinel_auth %q, want pw and spw", p.RedisAuth, p.SentinelAuth)
	}
}

func TestSlowReqDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]time.Duration
	}{
		{name: "off by default", in: alpha(), want: map[string]time.Duration{"alpha": 0}},
		{
			name: "pools inherit the global value, whether global comes first or last",
			in:   alpha("beta:", "  listen: 127.0.0.1:22122", "  servers:", "   - 127.0.0.1:6379:1", "global:", "  slow_req_duration: 30"),
			want: map[string]time.Duration{"alpha": 30 * time.Millisecond, "beta": 30 * time.Millisecond},
		},
		{
			name: "a pool's own value wins and leaves the others alone",
			in:   yml("global:", "  slow_req_duration: 30", "alpha:", "  listen: 127.0.0.1:22121", "  slow_req_duration: 5", "  servers:", "   - 127.0.0.1:6379:1", "beta:", "  listen: 127.0.0.1:22122", "  servers:", "   - 127.0.0.1:6379:1"),
			want: map[string]time.Duration{"alpha": 5 * time.Millisecond, "beta": 30 * time.Millisecond},
		},
		{
			name: "an empty global block keeps the defaults",
			in:   yml("global:", "  # slow_req_duration: 30", "alpha:", "  listen: 127.0.0.1:22121", "  servers:", "   - 127.0.0.1:6379:1"),
			want: map[string]time.Duration{"alpha": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("test.yml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]time.Duration)
			for _, p := range cfg.Pools {
				got[p.Name] = p.SlowReqDuration
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFlowStyleLists(t *testing.T) {
	in := yml("alpha:", "  listen: 127.0.0.1:22121", `  servers: ["127.0.0.1:6380:1", "127.0.0.1:6379:1 a"]`)
	cfg, err := Parse("test.yml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Pools[0].Servers; len(got) != 2 || got[0].RingName != "a" || got[1].Line != 3 {
		t.Errorf("servers %+v, want a then 127.0.0.1:6380, both on line 3", got)
	}
}

// TestDenyCommands: deny_commands names commands of the pool's protocol,
// in any letter case, given before or after redis.
func TestDenyCommands(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  []string
	}{
		{[]string{"  deny_commands: [FlushAll, keys]", "  redis: true"}, []string{"flushall", "keys"}},
		{[]string{"  deny_commands:", "   - flush_all"}, []string{"flush_all"}},
		{nil, nil},
	} {
		cfg, err := Parse("test.yml", []byte(alpha(tc.lines...)))
		if err != nil {
			t.Fatalf("%q: %v", tc.lines, err)
		}
		if got := cfg.Pools[0].DenyCommands; !slices.Equal(got, tc.want) {
			t.Errorf("%q: deny_commands %q, want %q", tc.lines, got, tc.want)
		}
	}
}

// TestConfFiles loads every shipped configuration file.
func TestConfFiles(t *testing.T) {
	files, err := filepath.Glob("../../conf/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files match ../../conf/*.yml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.File != file || len(cfg.Pools) == 0 {
				t.Errorf("loaded %q with %d pools", cfg.File, len(cfg.Pools))
			}
		})
	}
}

// TestExamplesFile pins the README examples that other packages' tests rely on.
func TestExamplesFile(t *testing.T) {
	cfg, err := Load("../../conf/examples.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range cfg.Pools {
		names = append(names, p.Name)
	}
	if want := []string{"beta", "alpha", "delta", "gamma", "omega"}; !slices.Equal(names, want) {
		t.Errorf("pools %q, want %q", names, want)
	}
	omega := cfg.Pools[4]
	if want := (Listen{Network: "unix", Addr: "/tmp/gamma", Perm: 0o666}); omega.Listen != want {
		t.Errorf("omega listen %+v, want %+v", omega.Listen, want)
	}
	if omega.Hash != "hsieh" || omega.Servers[0].Weight != 100000 {
		t.Errorf("omega hash %q, first weight %d; want hsieh, 100000", omega.Hash, omega.Servers[0].Weight)
	}
	beta := cfg.Pools[0]
	if beta.HashTag != "{}" || beta.Timeout != 400*time.Millisecond || beta.Servers[3].RingName != "server4" {
		t.Errorf("beta hash_tag %q, timeout %v, servers %+v", beta.HashTag, beta.Timeout, beta.Servers)
	}
}

// TestTwemproxyAgrees runs twemproxy 0.5's own checker over the cases above, so that every
// difference from it is one marked on purpose. It is skipped where nutcracker is not installed.
func TestTwemproxyAgrees(t *testing.T) {
	nutcracker, err := exec.LookPath("nutcracker")
	if err != nil {
		t.Skip("nutcracker (twemproxy 0.5) is not installed")
	}
	dir := t.TempDir()
	check := func(t *testing.T, in string, wantAccept bool) {
		t.Helper()
		path := filepath.Join(dir, "case.yml")
		if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(nutcracker, "-t", "-c", path).CombinedOutput()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("run nutcracker: %v", err)
		}
		if accepted := err == nil; accepted != wantAccept {
			t.Errorf("nutcracker -t accepted=%v, want %v; it said %s", accepted, wantAccept, strings.TrimSpace(string(out)))
		}
	}
	for _, tc := range badCases {
		t.Run("bad/"+tc.name, func(t *testing.T) { check(t, tc.in, tc.twemproxyAccepts) })
	}
	for _, tc := range valueCases {
		t.Run("value/"+tc.line, func(t *testing.T) { check(t, alpha(tc.line), !tc.twemproxyRejects) })
	}
	for _, tc := range listenCases {
		t.Run("listen/"+tc.in, func(t *testing.T) { check(t, alphaListen(tc.in), !tc.twemproxyRejects) })
	}
	for _, tc := range serverCases {
		t.Run("server/"+tc.in, func(t *testing.T) { check(t, alphaServers(`"`+tc.in+`"`), !tc.twemproxyRejects) })
	}
	for _, file := range []string{"../../conf/nutcracker.yml", "../../conf/examples.yml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("conf/"+filepath.Base(file), func(t *testing.T) { check(t, string(data), true) })
	}
}

// TestTwemproxyRingNames starts twemproxy 0.5 with one pool per server case and reads the server
// names on its stats port: they are its ring names, which our RingName must equal (or differ from
// as the case says). The servers need not run. It is skipped where nutcracker is not installed.
func TestTwemproxyRingNames(t *testing.T) {
	nutcracker, err := exec.LookPath("nutcracker")
	if err != nil {
		t.Skip("nutcracker (twemproxy 0.5) is not installed")
	}
	dir := t.TempDir()
	var conf strings.Builder
	cases := make(map[string]serverCase) // by pool name
	for i, tc := range serverCases {
		if tc.twemproxyRejects {
			continue
		}
		pool := fmt.Sprintf("p%d", i)
		fmt.Fprintf(&conf, "%s:\n  listen: %s\n  servers:\n   - %q\n", pool, filepath.Join(dir, pool+".sock"), tc.in)
		cases[pool] = tc
	}
	path := filepath.Join(dir, "names.yml")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	statsPort := testutil.FreePort(t)
	cmd := exec.Command(nutcracker, "-c", path, "-a", "127.0.0.1", "-s", strconv.Itoa(statsPort), "-o", filepath.Join(dir, "log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var conn net.Conn
	testutil.Eventually(t, 10*time.Second, func() bool {
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", statsPort))
		return err == nil
	}, "twemproxy's stats port %d does not answer", statsPort)
	defer conn.Close()
	var doc map[string]any
	if err := json.NewDecoder(conn).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for pool, tc := range cases {
		var names []string
		servers, _ := doc[pool].(map[string]any)
		for name, v := range servers {
			if _, server := v.(map[string]any); server {
				names = append(names, name)
			}
		}
		if want := cmp.Or(tc.twemproxyRingName, tc.want.RingName); len(names) != 1 || names[0] != want {
			t.Errorf("server %q: twemproxy names it %q, want %q", tc.in, names, want)
		}
	}
}

// FuzzParse checks that any input either parses into a usable Config or fails with an *Error.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../conf/*.yml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range badCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yml", data)
		if err != nil {
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			return
		}
		if len(cfg.Pools) == 0 {
			t.Fatal("parsed without pools")
		}
		for _, p := range cfg.Pools {
			if p.Listen.Addr == "" || len(p.Servers)+len(p.Groups) == 0 || p.ServerConnections < 1 {
				t.Fatalf("pool %+v is not usable", p)
			}
			for _, s := range p.Servers {
				if s.RingName == "" || s.Weight < 1 {
					t.Fatalf("server %+v is not usable", s)
				}
			}
		}
	})
}

func TestWorldReadablePasswordWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nc.yml")
	yaml := "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_auth: s3cret\n  servers:\n   - 127.0.0.1:6379:1\n"
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o640, false}, {0o600, false}} {
		if err := os.WriteFile(path, []byte(yaml), tc.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, tc.mode)
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(cfg.Warnings) > 0; got != tc.warn {
			t.Errorf("mode %04o: warnings %q", tc.mode, cfg.Warnings)
		}
		for _, w := range cfg.Warnings {
			if strings.Contains(w, "s3cret") {
				t.Errorf("warning shows the password: %s", w)
			}
		}
	}
}
