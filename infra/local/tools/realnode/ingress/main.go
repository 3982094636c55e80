// Command storefleet-ingress is the ingress controller of the local real node: it watches
// Ingresses, Services and EndpointSlices and reverse-proxies HTTP requests arriving on
// 127.0.0.1 to the ready endpoints of the matching backend, by Host header and path (longest
// prefix first, Exact before Prefix). It only dials endpoints inside the real node's pod
// network (--pod-cidr): a backend whose pods are simulated (KWOK) answers 503, so no request
// ever leaves the machine. An Ingress annotated storefleet.io/suspended=true (a suspended
// store, ADR 0011) answers 503 with a short "This store is suspended" page, without looking up
// or dialling its backend.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

type controller struct {
	ingresses cache.SharedIndexInformer
	services  informers.SharedInformerFactory
	podNet    *net.IPNet
	classes   map[string]bool
	next      atomic.Uint64
	transport http.RoundTripper
}

type route struct {
	namespace, service string
	port               networkingv1.ServiceBackendPort
	path               string
	exact              bool
	suspended          bool
}

// suspendedAnnotation marks the Ingress of a suspended store (the store charts set it).
const suspendedAnnotation = "storefleet.io/suspended"

// suspendedPage is what a suspended store's URL answers.
const suspendedPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Store suspended</title></head>
<body><h1>This store is suspended</h1><p>Its owner has paused it. Please come back later.</p></body>
</html>
`

// serveSuspended answers for a suspended store: 503, so clients and crawlers take it for a
// temporary state, and never cached, so the store shows again as soon as it is resumed.
func serveSuspended(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "3600")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, suspendedPage)
}

// routes returns the rules for host, most specific first.
func (c *controller) routes(host string) []route {
	var out []route
	for _, obj := range c.ingresses.GetStore().List() {
		ing := obj.(*networkingv1.Ingress)
		if ing.DeletionTimestamp != nil {
			continue
		}
		suspended := ing.Annotations[suspendedAnnotation] == "true"
		class := ""
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		if len(c.classes) > 0 && !c.classes[class] {
			continue
		}
		for _, rule := range ing.Spec.Rules {
			if rule.Host != host || rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					continue
				}
				exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
				path := p.Path
				if path == "" {
					path = "/"
				}
				out = append(out, route{ing.Namespace, p.Backend.Service.Name, p.Backend.Service.Port, path, exact, suspended})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].exact != out[j].exact {
			return out[i].exact
		}
		return len(out[i].path) > len(out[j].path)
	})
	return out
}

func matches(r route, path string) bool {
	if r.exact {
		return path == r.path
	}
	prefix := strings.TrimSuffix(r.path, "/")
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

// endpoint picks a ready endpoint (ip:port) of the route's service inside the pod network.
func (c *controller) endpoint(r route) (string, error) {
	svc, err := c.services.Core().V1().Services().Lister().Services(r.namespace).Get(r.service)
	if err != nil {
		return "", fmt.Errorf("service %s/%s: %w", r.namespace, r.service, err)
	}
	portName, found := "", false
	for _, sp := range svc.Spec.Ports {
		if (r.port.Name != "" && sp.Name == r.port.Name) || (r.port.Name == "" && sp.Port == r.port.Number) {
			portName, found = sp.Name, true
			break
		}
	}
	if !found {
		return "", fmt.Errorf("service %s/%s has no port %v", r.namespace, r.service, r.port)
	}
	slices, err := c.services.Discovery().V1().EndpointSlices().Lister().EndpointSlices(r.namespace).List(
		labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: r.service}))
	if err != nil {
		return "", err
	}
	var candidates []string
	outside := 0
	for _, s := range slices {
		var port int32
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == portName && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if ip := net.ParseIP(a); ip == nil || !c.podNet.Contains(ip) {
					outside++
					continue
				}
				candidates = append(candidates, net.JoinHostPort(a, strconv.Itoa(int(port))))
			}
		}
	}
	if len(candidates) == 0 {
		if outside > 0 {
			return "", fmt.Errorf("service %s/%s has endpoints only outside the real node's pod network (simulated)", r.namespace, r.service)
		}
		return "", fmt.Errorf("service %s/%s has no ready endpoint", r.namespace, r.service)
	}
	return candidates[c.next.Add(1)%uint64(len(candidates))], nil
}

func (c *controller) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, r := range c.routes(host) {
		if !matches(r, req.URL.Path) {
			continue
		}
		if r.suspended {
			serveSuspended(w)
			return
		}
		target, err := c.endpoint(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(&url.URL{Scheme: "http", Host: target})
				pr.Out.Host = req.Host // the store sees its public host, as behind Traefik
				pr.SetXForwarded()
			},
			Transport: c.transport,
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				http.Error(w, "backend "+target+": "+err.Error(), http.StatusBadGateway)
			},
		}
		proxy.ServeHTTP(w, req)
		return
	}
	http.Error(w, "no ingress rule for host "+host+" path "+req.URL.Path, http.StatusNotFound)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the controller")
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve HTTP on")
	health := flag.String("health", "", "address of /healthz (optional)")
	podCIDR := flag.String("pod-cidr", "10.245.0.0/24", "the only network endpoints are dialled in")
	classes := flag.String("classes", "", "comma-separated ingressClassNames to serve (\"\" for ingresses without one); empty: all")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	_, podNet, err := net.ParseCIDR(*podCIDR)
	if err != nil {
		log.Fatalf("pod-cidr: %v", err)
	}
	c := &controller{podNet: podNet, transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
	}}
	if *classes != "" {
		c.classes = map[string]bool{}
		for _, cl := range strings.Split(*classes, ",") {
			c.classes[strings.TrimSpace(cl)] = true
		}
	}
	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	c.ingresses = factory.Networking().V1().Ingresses().Informer()
	c.services = factory
	factory.Core().V1().Services().Informer()
	factory.Discovery().V1().EndpointSlices().Informer()
	ctx := context.Background()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			log.Fatalf("cache of %v did not sync", typ)
		}
	}
	if *health != "" {
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
			log.Fatal(http.ListenAndServe(*health, mux))
		}()
	}
	srv := &http.Server{Addr: *listen, Handler: c, ReadHeaderTimeout: 30 * time.Second}
	log.Printf("storefleet-ingress serving on %s (pods in %s)", *listen, *podCIDR)
	log.Fatal(srv.ListenAndServe())
}
