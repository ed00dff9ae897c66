package hashkit

const (
	fnv64Offset = 0xcbf29ce484222325
	fnv64Prime  = 0x100000001b3
	fnv32Offset = 2166136261
	fnv32Prime  = 16777619
)

// fnv1Hash64 is 64-bit FNV-1 over sign-extended bytes, truncated to its low 32
// bits.
func fnv1Hash64(key []byte) uint32 {
	var h uint64 = fnv64Offset
	for _, b := range key {
		h *= fnv64Prime
		h ^= uint64(int64(int8(b)))
	}
	return uint32(h)
}

// fnv1aHash64 is what twemproxy calls fnv1a_64: a 32-bit FNV-1a loop seeded with
// the low 32 bits of the 64-bit offset and multiplied by the low 32 bits of
// the 64-bit prime, over sign-extended bytes. For ASCII keys it equals the
// low 32 bits of 64-bit FNV-1a.
//
// It is the usual hash in front of a 10,000-key MGET, so it takes eight
// bytes a turn: a load, a xor and a multiply per byte, where a byte loop
// adds an address, a counter and a branch.
func fnv1aHash64(key []byte) uint32 {
	const prime = fnv64Prime & 0xffffffff
	var h uint32 = fnv64Offset & 0xffffffff
	for len(key) >= 8 {
		k := key[:8:8]
		h = (h ^ signed(k[0])) * prime
		h = (h ^ signed(k[1])) * prime
		h = (h ^ signed(k[2])) * prime
		h = (h ^ signed(k[3])) * prime
		h = (h ^ signed(k[4])) * prime
		h = (h ^ signed(k[5])) * prime
		h = (h ^ signed(k[6])) * prime
		h = (h ^ signed(k[7])) * prime
		key = key[8:]
	}
	for _, b := range key {
		h = (h ^ signed(b)) * prime
	}
	return h
}

// fnv1Hash32 is 32-bit FNV-1 over sign-extended bytes.
func fnv1Hash32(key []byte) uint32 {
	var h uint32 = fnv32Offset
	for _, b := range key {
		h *= fnv32Prime
		h ^= signed(b)
	}
	return h
}

// fnv1aHash32 is 32-bit FNV-1a over sign-extended bytes.
func fnv1aHash32(key []byte) uint32 {
	var h uint32 = fnv32Offset
	for _, b := range key {
		h ^= signed(b)
		h *= fnv32Prime
	}
	return h
}
