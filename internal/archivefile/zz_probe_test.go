package archivefile

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func BenchmarkZZFile(b *testing.B) {
	data, err := os.ReadFile(os.Getenv("PROBE_FILE"))
	if err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		r, _ := NewReader(bytes.NewReader(data), Limits{})
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			}
		}
		r.Close()
	}
}
