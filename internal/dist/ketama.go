package dist

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
)

const (
	// ketamaPointsPerServer is the number of ring points a server of average
	// weight gets.
	ketamaPointsPerServer = 160
	// ketamaPointsPerHash is the number of points taken from one MD5 digest.
	ketamaPointsPerHash = 4
	// ketamaMaxHostLen bounds the "<name>-<i>" string, as the C buffer does
	// (KETAMA_MAX_HOSTLEN, 273 bytes including the NUL).
	ketamaMaxHostLen = 272
)

// point is one position on the ketama ring and the server that owns it.
type point struct {
	value  uint32
	server int32
}

// ketama is twemproxy's consistent-hashing ring (nc_ketama.c): points sorted
// by value; a hash belongs to the first point at or after it, wrapping to the
// first point.
//
// Pick is on the path of every key (10,000 times for a 10,000-key MGET), so
// the ring has an index: bucket b (the top bits of a hash) holds the first
// point at or after the bucket's first hash. The index has two buckets or
// more per point, so a bucket mostly holds no point or one: Pick then
// makes one comparison, without a branch, and searches only the rare
// buckets holding more.
type ketama struct {
	// points is the ring, then two sentinels at or after every hash that
	// belong to the first point's server: the wrap-around, and a point
	// after any point Pick compares.
	points []point
	bucket []uint32 // len 1<<bits + 1; the last entry is len(ring)
	shift  uint     // 32 - bits
}

// ketamaIndexBits sizes the index: two buckets per point or more, within
// bounds (4 KB to 256 KB of index).
func ketamaIndexBits(points int) uint {
	bits := uint(10)
	for bits < 16 && 1<<bits < 2*points {
		bits++
	}
	return bits
}

func newKetama(servers []Server) *ketama {
	ring := ketamaRing(servers)
	bits := ketamaIndexBits(len(ring))
	wrap := point{value: math.MaxUint32, server: ring[0].server}
	points := append(ring, wrap, wrap)
	k := &ketama{points: points, bucket: make([]uint32, 1<<bits+1), shift: 32 - bits}
	i := 0
	for b := range 1 << bits {
		first := uint32(b) << k.shift
		for i < len(ring) && ring[i].value < first {
			i++
		}
		k.bucket[b] = uint32(i)
	}
	k.bucket[1<<bits] = uint32(len(ring))
	return k
}

// ketamaRing returns the ring's points, sorted.
func ketamaRing(servers []Server) []point {
	total := 0
	for _, s := range servers {
		total += s.Weight
	}
	ring := make([]point, 0, len(servers)*ketamaPointsPerServer)
	var host []byte
	for i, s := range servers {
		n := ketamaPoints(s.Weight, total, len(servers))
		for j := range n / ketamaPointsPerHash {
			host = strconv.AppendUint(append(append(host[:0], s.Name...), '-'), uint64(j), 10)
			if len(host) > ketamaMaxHostLen {
				host = host[:ketamaMaxHostLen]
			}
			digest := md5.Sum(host)
			for k := range ketamaPointsPerHash {
				ring = append(ring, point{
					value:  binary.LittleEndian.Uint32(digest[4*k:]),
					server: int32(i),
				})
			}
		}
	}
	// Equal values keep server order. twemproxy's qsort does not promise
	// any order for them; glibc's merge sort keeps it too.
	slices.SortStableFunc(ring, func(a, b point) int { return cmp.Compare(a.value, b.value) })
	return ring
}

// ketamaPoints is the number of ring points for a server, computed in single
// precision as nc_ketama.c does:
//
//	pct = (float)weight / (float)total_weight;
//	floorf((float)(pct * 160 / 4 * (float)nlive + 0.0000000001)) * 4
//
// Every float32 conversion below is a rounding the C code performs (and keeps
// the compiler from fusing operations). For some weights, such as 1,1,1,11,11
// or 2,29,29, the count differs from the one double precision gives.
func ketamaPoints(weight, total, nlive int) int {
	pct := float32(weight) / float32(total)
	perServer := float32(float32(pct*ketamaPointsPerServer)/ketamaPointsPerHash) * float32(nlive)
	withEpsilon := float32(float64(perServer) + 0.0000000001)
	return int(math.Floor(float64(withEpsilon))) * ketamaPointsPerHash
}

func (r *ketama) Pick(hash uint32) int {
	h := [1]uint32{hash}
	r.PickEach(h[:])
	return int(h[0])
}

func (r *ketama) PickEach(hashes []uint32) {
	for i, hash := range hashes {
		b := hash >> r.shift
		lo, hi := r.bucket[b], r.bucket[b+1]
		for hi-lo > 1 { // the first point at or after hash is in [lo, hi]
			mid := (lo + hi) / 2
			if r.points[mid].value < hash {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		// Then it is lo, or hi = lo+1 when lo's point is before hash: a
		// conditional move rather than a branch taken for one key in two.
		at := r.points[lo : lo+2 : lo+2]
		j := 0
		if at[0].value < hash {
			j = 1
		}
		hashes[i] = uint32(at[j].server)
	}
}
