package labschema

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/lab.schema.json and docs/lab-file.md from the Go types")

const (
	schemaFile = "../../docs/lab.schema.json"
	docFile    = "../../docs/lab-file.md"
)

// golden compares got with a checked-in file, or rewrites it with -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./topology/labschema -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the Go types: regenerate it with go test ./topology/labschema -update (and review the diff)", file)
	}
}

// TestSchemaGolden: docs/lab.schema.json is what the types generate, and
// generating twice gives the same bytes.
func TestSchemaGolden(t *testing.T) {
	got, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	again, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Fatal("two generations of the schema differ: output order is not deterministic")
	}
	golden(t, schemaFile, got)
}

// TestMarkdownGolden: docs/lab-file.md is what the schema generates.
func TestMarkdownGolden(t *testing.T) {
	got, err := Markdown()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, docFile, got)
}
