package dist

// modula is twemproxy's modula distribution (nc_modula.c): every server takes
// as many consecutive slots as its weight, and a hash picks slot hash % slots.
type modula []int32

func newModula(servers []Server) modula {
	var slots modula
	for i, s := range servers {
		for range s.Weight {
			slots = append(slots, int32(i))
		}
	}
	return slots
}

func (m modula) Pick(hash uint32) int {
	return int(m[hash%uint32(len(m))])
}

func (m modula) PickEach(hashes []uint32) {
	for i, h := range hashes {
		hashes[i] = uint32(m.Pick(h))
	}
}
