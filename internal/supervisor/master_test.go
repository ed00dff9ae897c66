package supervisor

import "testing"

func TestNthSetBit(t *testing.T) {
	for _, tc := range []struct {
		mask uint64
		n    int
		want int
	}{
		{0b1, 0, 0}, {0b1010, 0, 1}, {0b1010, 1, 3}, {0xc, 1, 3}, {1 << 63, 0, 63},
	} {
		if got := nthSetBit(tc.mask, tc.n); got != tc.want {
			t.Errorf("nthSetBit(%b, %d) = %d, want %d", tc.mask, tc.n, got, tc.want)
		}
	}
}
