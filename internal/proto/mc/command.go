package mc

// Kind says how a command is framed, routed and answered.
type Kind uint8

const (
	KindStorage    Kind = iota // set add replace append prepend: line, data block; one-line reply
	KindCas                    // cas: like KindStorage with a <cas unique> token
	KindRetrieval              // get gets: one or more keys; VALUE blocks then END
	KindGat                    // gat gats: <exptime> then keys (possibly none); VALUE blocks then END
	KindDelete                 // delete: one-line reply
	KindArith                  // incr decr: a number or NOT_FOUND
	KindTouch                  // touch: one-line reply
	KindQuit                   // quit: memcached closes the connection without a reply
	KindVersion                // version: "VERSION x"
	KindVerbosity              // verbosity <level> [noreply]: "OK", answered by the proxy
	KindStats                  // stats: the proxy's own STAT lines, answered by the proxy (stats.go)
	KindFlushAll               // flush_all [delay] [noreply]: to every server, "OK" when all said it
	KindMetaGet                // mg: VA line and data block, or a one-line reply
	KindMetaSet                // ms: line, data block; one-line reply
	KindMetaDelete             // md: one-line reply
	KindMetaArith              // ma: VA line and data block, or a one-line reply
	KindMetaNoop               // mn: "MN"
	KindMetaDebug              // me: "ME <key> ..." or "EN"
)

// meta reports whether k is a meta command, whose errors are always sent
// (memcached's out_errstring ignores the q flag).
func (k Kind) meta() bool { return k >= KindMetaGet }

// Command describes a supported command.
type Command struct {
	Name string // as on the wire: memcached's command names are lowercase and case-sensitive
	Kind Kind
	// MultiKey is set for the retrieval commands, which take many keys
	// and are split per server.
	MultiKey bool
}

var commands = [...]Command{
	{"set", KindStorage, false},
	{"add", KindStorage, false},
	{"replace", KindStorage, false},
	{"append", KindStorage, false},
	{"prepend", KindStorage, false},
	{"cas", KindCas, false},
	{"get", KindRetrieval, true},
	{"gets", KindRetrieval, true},
	{"gat", KindGat, true},
	{"gats", KindGat, true},
	{"delete", KindDelete, false},
	{"incr", KindArith, false},
	{"decr", KindArith, false},
	{"touch", KindTouch, false},
	{"quit", KindQuit, false},
	{"version", KindVersion, false},
	{"verbosity", KindVerbosity, false},
	{"stats", KindStats, false},
	{"flush_all", KindFlushAll, false},
	{"mg", KindMetaGet, false},
	{"ms", KindMetaSet, false},
	{"md", KindMetaDelete, false},
	{"ma", KindMetaArith, false},
	{"mn", KindMetaNoop, false},
	{"me", KindMetaDebug, false},
}

// byName indexes commands; indexing it with string(name) does not allocate.
var byName = func() map[string]*Command {
	m := make(map[string]*Command, len(commands))
	for i := range commands {
		m[commands[i].Name] = &commands[i]
	}
	return m
}()

// Lookup returns the supported command called name, or nil. The Command
// is shared: do not modify it.
func Lookup(name string) *Command { return byName[name] }
