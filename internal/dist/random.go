package dist

import "math/rand/v2"

// random is twemproxy's random distribution (nc_random.c): it ignores the
// hash and weights and picks any of its servers with equal chance.
type random int

func (n random) Pick(uint32) int {
	return rand.IntN(int(n))
}

func (n random) PickEach(hashes []uint32) {
	for i := range hashes {
		hashes[i] = uint32(n.Pick(0))
	}
}
