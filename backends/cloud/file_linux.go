package cloud

import "syscall"

// tmpfsMagic is TMPFS_MAGIC from linux/magic.h.
const tmpfsMagic = 0x01021994

// onTmpfs reports whether dir (or, if it does not exist yet, its nearest
// existing parent) is on a tmpfs, which a reboot empties.
func onTmpfs(dir string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(existingParent(dir), &st); err != nil {
		return false
	}
	return int64(st.Type) == tmpfsMagic
}
