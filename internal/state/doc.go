// Package state keeps what netlab made for a running lab under
// <runtime dir>/<lab>/: an append-only journal that records each object's
// intent BEFORE it is created (a namespace, a host knob), and a versioned
// snapshot written atomically (temp file, fsync, rename). Per-lab locks are
// flock(2) on a file beside the lab's directory, so a killed process frees
// them.
package state
