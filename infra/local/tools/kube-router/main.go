// Command kube-router is kube-router's NetworkPolicy controller alone, for the storefleet real
// node (infra/local/parts/realnode.sh; docs/decisions/0008-networkpolicy-enforcer.md). It takes
// kube-router's own flags and refuses to run unless they ask for the firewall only
// (--run-firewall=true --run-router=false --run-service-proxy=false): the routing (BGP),
// service-proxy (IPVS) and load-balancer controllers are not linked into this binary at all,
// so their dependencies (gobgp, the Docker client, the AWS SDK, gRPC) are not in it either.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"
	"github.com/cloudnativelabs/kube-router/v2/pkg/healthcheck"
	"github.com/cloudnativelabs/kube-router/v2/pkg/options"
	"github.com/cloudnativelabs/kube-router/v2/pkg/version"
	"github.com/spf13/pflag"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "kube-router (firewall only): %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	klog.InitFlags(nil)
	config := options.NewKubeRouterConfig()
	config.AddFlags(pflag.CommandLine)
	pflag.Parse()
	if err := flag.Set("logtostderr", "true"); err != nil {
		return err
	}
	if err := flag.Set("v", config.VLevel); err != nil {
		return err
	}
	if config.HelpRequested {
		pflag.Usage()
		return nil
	}
	if config.Version {
		version.PrintVersion(false)
		return nil
	}
	if !config.RunFirewall || config.RunRouter || config.RunServiceProxy || config.RunLoadBalancer {
		return fmt.Errorf("this build runs only the firewall: pass --run-firewall=true --run-router=false " +
			"--run-service-proxy=false (and no --run-loadbalancer)")
	}
	if config.CleanupConfig || config.EnablePprof {
		return fmt.Errorf("--cleanup-config and --enable-pprof are not supported by this build")
	}
	if config.Kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (iptables, ipset)")
	}
	version.PrintVersion(true)

	restConfig, err := clientcmd.BuildConfigFromFlags(config.Master, config.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}

	var wg sync.WaitGroup
	var ipsetMutex sync.Mutex
	stopCh := make(chan struct{})
	healthChan := make(chan *healthcheck.ControllerHeartbeat, 10)

	hc, err := healthcheck.NewHealthController(config)
	if err != nil {
		return err
	}
	wg.Add(1)
	go hc.RunServer(stopCh, &wg)

	// Only what the policy controller reads: pods, namespaces, NetworkPolicies.
	factory := informers.NewSharedInformerFactory(client, 0)
	podInformer := factory.Core().V1().Pods().Informer()
	nsInformer := factory.Core().V1().Namespaces().Informer()
	npInformer := factory.Networking().V1().NetworkPolicies().Informer()
	factory.Start(stopCh)
	synced := make(chan struct{})
	go func() {
		factory.WaitForCacheSync(stopCh)
		close(synced)
	}()
	select {
	case <-synced:
	case <-time.After(config.CacheSyncTimeout):
		close(stopCh)
		return fmt.Errorf("informer caches did not sync in %s", config.CacheSyncTimeout)
	}
	hc.SetAlive()
	wg.Add(1)
	go hc.RunCheck(healthChan, stopCh, &wg)

	iptablesHandlers, ipsetHandlers, err := netpol.NewIPTablesHandlers(config)
	if err != nil {
		return err
	}
	npc, err := netpol.NewNetworkPolicyController(client, config, podInformer, npInformer, nsInformer,
		&ipsetMutex, iptablesHandlers, ipsetHandlers)
	if err != nil {
		return fmt.Errorf("network policy controller: %w", err)
	}
	if _, err := podInformer.AddEventHandler(npc.PodEventHandler); err != nil {
		return err
	}
	if _, err := nsInformer.AddEventHandler(npc.NamespaceEventHandler); err != nil {
		return err
	}
	if _, err := npInformer.AddEventHandler(npc.NetworkPolicyEventHandler); err != nil {
		return err
	}
	wg.Add(1)
	go npc.Run(healthChan, stopCh, &wg)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	klog.Info("shutting down the network policy controller (its iptables rules and ipsets stay until removed)")
	close(stopCh)
	wg.Wait()
	return nil
}
