package password

import (
	_ "embed"
	"hash/maphash"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// A password is guessable when it can be read whole as at most
// maxTokens pieces, at most maxWords of them words: a common password,
// a word or name (of zxcvbn's frequency lists: the breached passwords,
// English words, first names and surnames; or a part of the email), a
// short number (a year, a PIN), a few symbols, a sequence (1234,
// abcd, 9876), one character repeated, or a run of a keyboard row
// (qwerty, asdf). Leetspeak (p@ssw0rd) is read as the letters it stands
// for. "Password1!", "michael1985", "qwertyuiop", "correcthorse" and
// "ann2024" (for ann@…) are guessable; "correct horse battery staple",
// "Tr0ub4dor&3" and eight random digits are not.
//
// The check reads each position a bounded number of times (tokens are at
// most maxTokenLen long), so its cost is linear in the password's length:
// microseconds, where zxcvbn's estimate took milliseconds and was paid
// outside the hashing limiter (docs/BENCHMARKS.md).
const (
	maxTokens   = 3
	maxWords    = 2
	maxTokenLen = 24 // the longest word looked up
	minWordLen  = 2
)

// wordList is the lowercase words and common passwords of zxcvbn's
// frequency lists (the breached passwords, English words, first names and
// surnames), one a line, sorted; generated from zxcvbn-go by
// `make password-words`, and checked against it by the tests.
//
//go:embed words.txt
var wordList string

// dictionary holds the words of wordList by their hash. A set of integers
// has no pointers for the garbage collector to follow; the strings the
// lists were once loaded as (7 MiB of them, with zxcvbn-go's own copy) were
// marked again in every collection, and the 19 MiB of each password hash
// start one every few hashes (docs/BENCHMARKS.md). A piece whose 64-bit
// hash is a word's is taken for that word: a strong password refused,
// never a weak one let through; with 85,000 words and a few hundred pieces
// a password, about once in 10^11 passwords.
var dictionary = sync.OnceValue(func() dict {
	d := dict{seed: maphash.MakeSeed(), words: make(map[uint64]struct{}, strings.Count(wordList, "\n"))}
	for w := range strings.Lines(wordList) {
		d.words[d.hash(strings.TrimSuffix(w, "\n"))] = struct{}{}
	}
	return d
})

type dict struct {
	seed  maphash.Seed
	words map[uint64]struct{}
}

func (d dict) hash(w string) uint64 { return maphash.String(d.seed, w) }

func (d dict) has(w string) bool {
	_, ok := d.words[d.hash(w)]
	return ok
}

// keyboardRows are the rows a finger runs along, both ways.
var keyboardRows = []string{"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "0987654321", "poiuytrewq", "lkjhgfdsa", "mnbvcxz"}

// leet maps the digits and symbols that stand for letters.
var leet = strings.NewReplacer("@", "a", "4", "a", "3", "e", "1", "i", "!", "i", "0", "o", "$", "s", "5", "s", "7", "t", "+", "t")

// guessable reports whether password reads as a few guessable pieces.
// related are further words to count as such (the email's parts).
func guessable(password string, related []string) bool {
	lower := strings.ToLower(password)
	if u := unit(lower); u != lower {
		if len(u) <= 4 { // aaaaaaaa, abababab, 12121212
			return true
		}
		lower = u // passwordpassword reads as password
	}
	extra := map[string]struct{}{}
	for _, r := range related {
		if r = strings.ToLower(r); len(r) >= 3 {
			extra[r] = struct{}{}
		}
	}
	return coverable(lower, leet.Replace(lower), extra)
}

// unit is s without its repetitions: the shortest prefix that s repeats
// ("passwordpasswordpass" is "password"); s itself when it repeats none.
func unit(s string) string {
	for p := 1; p <= len(s)/2; p++ {
		if s[p:] == s[:len(s)-p] {
			return s[:p]
		}
	}
	return s
}

// cover is the fewest pieces (and words among them) that read s[:i].
type cover struct{ tokens, words int8 }

const none = int8(127)

// coverable reports whether s can be read as at most maxTokens guessable
// pieces, at most maxWords of them words. A word may be read in s or in
// leeted, s with leetspeak undone (the same length: every replacement is
// one ASCII byte for one), so "p@ssw0rd1" is the word password and the
// number 1.
func coverable(s, leeted string, extra map[string]struct{}) bool {
	n := len(s)
	best := make([]cover, n+1)
	for i := range best {
		best[i] = cover{none, none}
	}
	best[0] = cover{}
	words := dictionary()
	for i := range n {
		if best[i].tokens >= maxTokens || !utf8.RuneStart(s[i]) {
			continue
		}
		try := func(j int, word bool) {
			c := cover{best[i].tokens + 1, best[i].words}
			if word {
				c.words++
			}
			if c.words > maxWords {
				return
			}
			if b := best[j]; c.tokens < b.tokens || (c.tokens == b.tokens && c.words < b.words) {
				best[j] = c
			}
		}
		for j := i + minWordLen; j <= min(n, i+maxTokenLen); j++ {
			if isWord(s[i:j], words, extra) || isWord(leeted[i:j], words, extra) {
				try(j, true)
			}
		}
		for _, j := range patternEnds(s, i) {
			try(j, false)
		}
	}
	return best[n].tokens <= maxTokens
}

// patternEnds are the ends j of the patterns that start at s[i]: the
// maximal run of digits when it has at most 4 (a year, a PIN), the maximal
// run of symbols when it has at most 3, and every end of a repeat of one
// character, of an ascending or descending sequence, or of a run along a
// keyboard row (each at least 3 long).
func patternEnds(s string, i int) []int {
	var ends []int
	if i == 0 || !isDigit(s[i-1]) {
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j > i && j-i <= 4 {
			ends = append(ends, j)
		}
	}
	if isSymbol(s, i) && (i == 0 || !isSymbol(s, i-1)) {
		j := i
		for j < len(s) && isSymbol(s, j) {
			j++
		}
		if j-i <= 3 {
			ends = append(ends, j)
		}
	}
	for _, step := range []int{0, 1, -1} { // repeat, ascending, descending
		j := i + 1
		for j < len(s) && int(s[j])-int(s[j-1]) == step && s[j] < utf8.RuneSelf {
			j++
		}
		for k := i + 3; k <= j; k++ {
			ends = append(ends, k)
		}
	}
	for _, row := range keyboardRows {
		if at := strings.IndexByte(row, s[i]); at >= 0 {
			j := i
			for j < len(s) && at+j-i < len(row) && s[j] == row[at+j-i] {
				j++
			}
			for k := i + 3; k <= j; k++ {
				ends = append(ends, k)
			}
		}
	}
	return ends
}

func isWord(piece string, d dict, extra map[string]struct{}) bool {
	if d.has(piece) {
		return true
	}
	_, ok := extra[piece]
	return ok
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// isSymbol reports whether the character at s[i] is neither a letter nor a
// digit (punctuation, symbols, spaces).
func isSymbol(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}
