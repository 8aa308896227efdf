// Package bridgetest holds small test helpers shared by the packages'
// tests: a clock the test moves by hand and a log sink that goroutines may
// write to while the test reads it. It is imported only by tests.
package bridgetest
