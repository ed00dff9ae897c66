package testutil

import (
	"bytes"
	"testing"
)

// mover is a growing buffer that moves to a new backing array before an
// append (always while shorter than moveBelow, on growth after that) and
// poisons the old one, so a parser that kept a pointer into an old buffer
// is caught.
type mover struct {
	buf       []byte
	moveBelow int
}

func (m *mover) add(b ...byte) []byte {
	if len(m.buf)+len(b) > cap(m.buf) || len(m.buf) < m.moveBelow {
		nb := make([]byte, len(m.buf), 2*(len(m.buf)+len(b))+1)
		copy(nb, m.buf)
		for i := range m.buf {
			m.buf[i] = 0xEE
		}
		m.buf = nb
	}
	m.buf = append(m.buf, b...)
	return m.buf
}

// FeedBytes feeds data to a resumable parser one byte at a time, in a
// buffer that moves (see mover; moving on every byte costs quadratic time,
// so only while it is shorter than moveBelow), until parse reports a frame
// or an error. It returns that result and the buffer parse saw last.
func FeedBytes(data []byte, moveBelow int, parse func([]byte) (int, error)) (int, []byte, error) {
	m := mover{moveBelow: moveBelow}
	for i := range data {
		buf := m.add(data[i])
		n, err := parse(buf)
		if n > 0 || err != nil {
			return n, buf, err
		}
	}
	return 0, m.buf, nil
}

// FeedTwo feeds data[:cut] and then, unless that decided already, all of
// data in a fresh buffer (the first one poisoned).
func FeedTwo(data []byte, cut int, parse func([]byte) (int, error)) (int, []byte, error) {
	first := bytes.Clone(data[:cut])
	if n, err := parse(first); n > 0 || err != nil {
		return n, first, err
	}
	for i := range first {
		first[i] = 0xEE
	}
	all := bytes.Clone(data)
	n, err := parse(all)
	return n, all, err
}

// Trunc shortens b to 80 bytes for test messages.
func Trunc(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// BenchByteByByte feeds frame to a new resumable parser one byte at a
// time, once per iteration: ns/op grows linearly with the frame size when
// the parser resumes where it stopped, quadratically when it rescans.
func BenchByteByByte(b *testing.B, frame []byte, newParser func() func([]byte) (int, error)) {
	for b.Loop() {
		parse := newParser()
		for i := 1; i <= len(frame); i++ {
			if n, err := parse(frame[:i]); err != nil || n != 0 && n != len(frame) {
				b.Fatalf("Parse = (%d, %v)", n, err)
			}
		}
	}
}
