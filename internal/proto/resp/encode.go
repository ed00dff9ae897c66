package resp

import "strconv"

// AppendArrayHeader appends "*n\r\n".
func AppendArrayHeader(dst []byte, n int) []byte {
	dst = strconv.AppendInt(append(dst, '*'), int64(n), 10)
	return append(dst, '\r', '\n')
}

// AppendBulk appends b as a bulk string "$len\r\nb\r\n".
func AppendBulk(dst, b []byte) []byte {
	dst = strconv.AppendInt(append(dst, '$'), int64(len(b)), 10)
	dst = append(append(dst, '\r', '\n'), b...)
	return append(dst, '\r', '\n')
}

// AppendBulkString appends s as a bulk string.
func AppendBulkString(dst []byte, s string) []byte {
	dst = strconv.AppendInt(append(dst, '$'), int64(len(s)), 10)
	dst = append(append(dst, '\r', '\n'), s...)
	return append(dst, '\r', '\n')
}

// AppendNullBulk appends the null bulk string "$-1\r\n".
func AppendNullBulk(dst []byte) []byte {
	return append(dst, "$-1\r\n"...)
}

// AppendInt appends the integer reply ":n\r\n".
func AppendInt(dst []byte, n int64) []byte {
	dst = strconv.AppendInt(append(dst, ':'), n, 10)
	return append(dst, '\r', '\n')
}

// AppendError appends the error reply "-msg\r\n"; msg starts with its
// code, as in "ERR Connection refused". Like Redis, it turns any CR or LF in
// msg into a space so that the reply stays one line.
func AppendError(dst []byte, msg string) []byte {
	return appendLine(append(dst, '-'), msg)
}

// AppendSimple appends the simple string reply "+s\r\n", CR and LF in s
// turned into spaces.
func AppendSimple(dst []byte, s string) []byte {
	return appendLine(append(dst, '+'), s)
}

func appendLine(dst []byte, s string) []byte {
	start := len(dst)
	dst = append(dst, s...)
	for i := start; i < len(dst); i++ {
		if dst[i] == '\r' || dst[i] == '\n' {
			dst[i] = ' '
		}
	}
	return append(dst, '\r', '\n')
}

// AppendMapHeader appends the RESP3 map header "%n\r\n" of n pairs.
func AppendMapHeader(dst []byte, n int) []byte {
	dst = strconv.AppendInt(append(dst, '%'), int64(n), 10)
	return append(dst, '\r', '\n')
}

// appendNull appends the null a client of the dialect gets: RESP2's null
// bulk string, RESP3's "_".
func appendNull(dst []byte, dialect uint8) []byte {
	if dialect == dialectRESP3 {
		return append(dst, "_\r\n"...)
	}
	return AppendNullBulk(dst)
}

// appendText appends a document (INFO, CLIENT LIST) as Redis sends it to
// a client of the dialect: a RESP3 verbatim string of format "txt", a
// bulk string in RESP2.
func appendText(dst, text []byte, dialect uint8) []byte {
	if dialect != dialectRESP3 {
		return AppendBulk(dst, text)
	}
	dst = strconv.AppendInt(append(dst, '='), int64(len(text)+4), 10)
	dst = append(append(dst, "\r\ntxt:"...), text...)
	return append(dst, '\r', '\n')
}
