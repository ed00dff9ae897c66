package hashkit

import "hash/crc32"

// crc16Table is the CRC-16/XMODEM table (polynomial 0x1021).
var crc16Table = makeCRC16Table()

func makeCRC16Table() *[256]uint32 {
	var t [256]uint32
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = uint32(crc)
	}
	return &t
}

// crc16 is twemproxy's crc16: the XMODEM table driven through a 32-bit
// register that is never masked, so keys of three or more bytes give values
// above 0xffff. The low 16 bits are CRC-16/XMODEM.
func crc16(key []byte) uint32 {
	var crc uint32
	for _, b := range key {
		crc = crc<<8 ^ crc16Table[(crc>>8^uint32(b))&0xff]
	}
	return crc
}

// crc32Libmemcached is libmemcached's crc32, which twemproxy copied: bits
// 16..30 of the standard CRC-32, a 15-bit value.
func crc32Libmemcached(key []byte) uint32 {
	return crc32.ChecksumIEEE(key) >> 16 & 0x7fff
}

// crc32a is the standard (zlib, IEEE) CRC-32.
func crc32a(key []byte) uint32 {
	return crc32.ChecksumIEEE(key)
}
