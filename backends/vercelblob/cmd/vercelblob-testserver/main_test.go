package main

import (
	"strings"
	"testing"
)

func TestRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-token", "not-a-token"},
		{"-token", "vercel_blob_rw_store_secret", "-addr", "256.0.0.1:99999"},
		{"-token", "vercel_blob_rw_store_secret", "-access", "world"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) succeeded", strings.Join(args, " "))
		}
	}
}
