package dbtest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"syscall"
)

// hostTag is a short, stable name of this machine, part of every database and container name
// so that leftovers are only ever judged (by process id) on the machine that made them.
func hostTag() string {
	name, _ := os.Hostname()
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%06x", h.Sum32()&0xffffff)
}

// processAlive reports whether process pid exists on this machine.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
