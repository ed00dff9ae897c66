package hashkit

import "encoding/binary"

// hsieh is Paul Hsieh's SuperFastHash with seed 0. As in twemproxy, the third
// byte of a three-byte tail is read as a signed char.
func hsieh(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	var h uint32
	for ; len(key) >= 4; key = key[4:] {
		h += uint32(binary.LittleEndian.Uint16(key))
		tmp := uint32(binary.LittleEndian.Uint16(key[2:]))<<11 ^ h
		h = h<<16 ^ tmp
		h += h >> 11
	}
	switch len(key) {
	case 3:
		h += uint32(binary.LittleEndian.Uint16(key))
		h ^= h << 16
		h ^= signed(key[2]) << 18
		h += h >> 11
	case 2:
		h += uint32(binary.LittleEndian.Uint16(key))
		h ^= h << 11
		h += h >> 17
	case 1:
		h += uint32(key[0])
		h ^= h << 10
		h += h >> 1
	}
	h ^= h << 3
	h += h >> 5
	h ^= h << 4
	h += h >> 17
	h ^= h << 25
	h += h >> 6
	return h
}
