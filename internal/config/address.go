package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/nutcracker-go/nutcracker/internal/dist"
)

// parseListen reads "host:port" or "/unix/path [perm]", the perm being octal such as 0666.
func parseListen(text string) (Listen, error) {
	if strings.HasPrefix(text, "/") {
		path, perm, hasPerm := strings.Cut(text, " ")
		listen := Listen{Network: "unix", Addr: path}
		if hasPerm {
			mode, err := strconv.ParseUint(perm, 8, 32)
			if err != nil || mode > 0o777 {
				return Listen{}, fmt.Errorf("permission %q is not an octal mode such as 0666", perm)
			}
			listen.Perm = os.FileMode(mode)
		}
		return listen, nil
	}
	if strings.ContainsAny(text, " \t") {
		return Listen{}, errors.New(`want "host:port" (a permission is only for "/unix/path 0666")`)
	}
	host, port, err := splitHostPort(text)
	if err != nil {
		return Listen{}, fmt.Errorf(`want "host:port" or "/unix/path [perm]": %w`, err)
	}
	return Listen{Network: "tcp", Addr: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}

// parseServer reads "host:port:weight [name]" or "/unix/path:weight [name]". The Line is left
// for the caller.
func parseServer(text string) (Server, error) {
	addrWeight, name, hasName := strings.Cut(text, " ")
	if hasName && (name == "" || strings.ContainsAny(name, " \t")) {
		return Server{}, errors.New(`want "host:port:weight [name]": a name is one word after a single space`)
	}
	i := strings.LastIndexByte(addrWeight, ':')
	if i < 0 || !strings.HasPrefix(addrWeight, "/") && !strings.Contains(addrWeight[:i], ":") {
		return Server{}, errors.New(`want "host:port:weight [name]" or "/unix/path:weight [name]"`)
	}
	addr := addrWeight[:i]
	weight, err := parseDecimal(addrWeight[i+1:])
	if err != nil {
		return Server{}, fmt.Errorf("weight: %w", err)
	}
	if weight < 1 {
		return Server{}, errors.New("weight must be at least 1")
	}
	srv := Server{Addr: addr, Weight: weight, Name: name, RingName: dist.RingName(name, addr)}
	if strings.HasPrefix(addr, "/") {
		srv.Network = "unix"
		return srv, nil
	}
	srv.Network = "tcp"
	if srv.Host, srv.Port, err = splitHostPort(addr); err != nil {
		return Server{}, fmt.Errorf(`want "host:port:weight [name]": %w`, err)
	}
	return srv, nil
}

// parseSentinel reads "host:port [name]".
func parseSentinel(text string) (Sentinel, error) {
	addr, name, hasName := strings.Cut(text, " ")
	if hasName && (name == "" || strings.ContainsAny(name, " \t")) {
		return Sentinel{}, errors.New(`want "host:port [name]": a name is one word after a single space`)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return Sentinel{}, fmt.Errorf(`want "host:port [name]": %w`, err)
	}
	return Sentinel{Addr: net.JoinHostPort(host, strconv.Itoa(port)), Name: name}, nil
}

// splitHostPort splits at the last colon, as twemproxy does, so an IPv6 host may be written bare
// ("::1:6379") or in brackets ("[::1]:6379"); the host comes back without brackets. Host names
// are not resolved here.
func splitHostPort(text string) (host string, port int, err error) {
	i := strings.LastIndexByte(text, ':')
	if i < 0 {
		return "", 0, errors.New("missing port")
	}
	host = text[:i]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if !strings.Contains(host, ":") {
			return "", 0, fmt.Errorf("only an IPv6 address goes in brackets, got %q", text[:i])
		}
	}
	switch {
	case host == "":
		return "", 0, errors.New("missing host")
	case strings.Contains(host, ":") && net.ParseIP(host) == nil:
		return "", 0, fmt.Errorf("host %q is neither a name nor an IP address", host)
	case strings.ContainsAny(host, " \t[]/"):
		return "", 0, fmt.Errorf("host %q is neither a name nor an IP address", host)
	}
	port, err = parseDecimal(text[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", text[i+1:])
	}
	return host, port, nil
}
