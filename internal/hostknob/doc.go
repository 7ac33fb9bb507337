// Package hostknob is the ledger of host-global knobs (root-namespace
// sysctls) that labs change. Under one global flock it records a knob's old
// value BEFORE the first write, counts which labs hold it, refuses a second
// lab that wants a different value, and restores the old value when the last
// holder releases it.
package hostknob
