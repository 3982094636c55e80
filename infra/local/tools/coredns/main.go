// Command coredns is CoreDNS with only the plugins the storefleet real node needs: cluster
// names from the Kubernetes API, a cache, health and readiness. No forward plugin: pods on
// the real node resolve cluster names only and never reach a resolver outside the stack.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

// The order plugins run in: CoreDNS's plugin.cfg order, except that template (which answers
// NXDOMAIN for every name outside the cluster) comes after kubernetes.
var directives = []string{"bind", "ready", "health", "errors", "log", "cache", "kubernetes", "template"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
