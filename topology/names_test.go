package topology

import (
	"errors"
	"strings"
	"testing"
)

func TestWithSuffix(t *testing.T) {
	for _, tc := range []struct {
		name, suffix, want, err string
	}{
		{"lab", "", "lab", ""},
		{"lab", "ci42", "lab-ci42", ""},
		{"lab", "job-7", "lab-job-7", ""},
		{"lab", "Bad", "", "suffix"},
		{"lab", "a/b", "", "suffix"},
		{"lab", "-x", "", "suffix"},
		{"abcdefghijklmnopqrstuvwxyz", "1234567", "", "at most"},
	} {
		l := &Lab{Name: tc.name}
		err := l.WithSuffix(tc.suffix)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrBadName) {
				t.Errorf("WithSuffix(%q, %q) = %v, want an ErrBadName containing %q", tc.name, tc.suffix, err, tc.err)
			}
			if l.Name != tc.name {
				t.Errorf("a refused suffix renamed the lab to %q", l.Name)
			}
			continue
		}
		if err != nil || l.Name != tc.want {
			t.Errorf("WithSuffix(%q, %q) = %q, %v; want %q", tc.name, tc.suffix, l.Name, err, tc.want)
		}
	}
}
