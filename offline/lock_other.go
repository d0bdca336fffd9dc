//go:build !unix

package offline

// lockedElsewhere cannot tell on this platform; bbolt's own lock still
// refuses a second writer.
func lockedElsewhere(string) bool { return false }
