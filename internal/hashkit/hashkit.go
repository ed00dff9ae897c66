// Package hashkit implements the twelve key hash functions of twemproxy 0.5
// (src/hashkit), bit for bit as the C code computes them on x86-64 Linux.
//
// Compatibility, not textbook correctness, is the goal. Where the C code reads
// key bytes through a signed char, the byte is sign-extended here too, so keys
// with bytes >= 0x80 hash to the same values as in twemproxy: "crc16" keeps
// its 32-bit working register unmasked, "crc32" is libmemcached's 15-bit
// variant and "fnv1a_64" is a 32-bit loop. Every function is safe for
// concurrent use and does not allocate.
package hashkit

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
)

// Func hashes a key to 32 bits the way twemproxy does.
type Func func(key []byte) uint32

// functions lists the hash functions in twemproxy's order (nc_hashkit.h).
var functions = [...]struct {
	name string
	fn   Func
}{
	{"one_at_a_time", oneAtATime},
	{"md5", md5Hash},
	{"crc16", crc16},
	{"crc32", crc32Libmemcached},
	{"crc32a", crc32a},
	{"fnv1_64", fnv1Hash64},
	{"fnv1a_64", fnv1aHash64},
	{"fnv1_32", fnv1Hash32},
	{"fnv1a_32", fnv1aHash32},
	{"hsieh", hsieh},
	{"murmur", murmur},
	{"jenkins", jenkins},
}

// ByName returns the hash function configured by name, as written in a pool's
// "hash:" setting.
func ByName(name string) (Func, bool) {
	for _, f := range functions {
		if f.name == name {
			return f.fn, true
		}
	}
	return nil, false
}

// Names lists the valid hash names in twemproxy's order, for config error
// messages.
func Names() []string {
	names := make([]string, len(functions))
	for i, f := range functions {
		names[i] = f.name
	}
	return names
}

// TagKey returns the part of key that a pool with the given two-byte hash_tag
// hashes: the bytes between the first tag[0] and the first tag[1] after it,
// when that part is non-empty, else the whole key. An empty tag returns key
// unchanged. The result aliases key.
func TagKey(key, tag []byte) []byte {
	if len(tag) < 2 {
		return key
	}
	start := bytes.IndexByte(key, tag[0])
	if start < 0 {
		return key
	}
	inner := key[start+1:]
	end := bytes.IndexByte(inner, tag[1])
	if end <= 0 {
		return key
	}
	return inner[:end]
}

// signed returns the value C gets from converting a (signed) char to a 32-bit
// unsigned integer: bytes >= 0x80 are sign-extended.
func signed(b byte) uint32 {
	return uint32(int32(int8(b)))
}

// oneAtATime is Bob Jenkins' one-at-a-time hash, over sign-extended bytes.
func oneAtATime(key []byte) uint32 {
	var h uint32
	for _, b := range key {
		h += signed(b)
		h += h << 10
		h ^= h >> 6
	}
	h += h << 3
	h ^= h >> 11
	h += h << 15
	return h
}

// md5Hash is the little-endian value of the first four bytes of the key's MD5
// digest.
func md5Hash(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}
