// Command etcd runs the etcd server from the go.etcd.io/etcd/server/v3 module,
// at the version Kubernetes itself requires, so no separate etcd source is needed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
