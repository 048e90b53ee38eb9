//go:build !linux

package cloud

func onTmpfs(string) bool { return false }
