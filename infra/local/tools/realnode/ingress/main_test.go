package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func storeIngress(name, host string, annotations map[string]string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "store-" + name, Annotations: annotations},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}},
				}}},
			}},
		}}},
	}
}

// A controller whose ingress cache holds `ingresses` and which has no Service or
// EndpointSlice cache at all: a request that looked its backend up would panic.
func controllerWith(t *testing.T, ingresses ...*networkingv1.Ingress) *controller {
	t.Helper()
	informer := cache.NewSharedIndexInformer(&cache.ListWatch{}, &networkingv1.Ingress{}, 0, cache.Indexers{})
	for _, ing := range ingresses {
		if err := informer.GetStore().Add(ing); err != nil {
			t.Fatal(err)
		}
	}
	return &controller{ingresses: informer}
}

func TestASuspendedStoreAnswers503WithoutDiallingItsBackend(t *testing.T) {
	c := controllerWith(t,
		storeIngress("paused", "paused.stores.localtest.me", map[string]string{suspendedAnnotation: "true"}))
	for _, path := range []string{"/", "/wp-admin/", "/app"} {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://paused.stores.localtest.me:8080"+path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d, want 503", path, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "This store is suspended") {
			t.Fatalf("%s: body %q", path, rec.Body.String())
		}
		if got := rec.Header().Get("Retry-After"); got == "" {
			t.Errorf("%s: no Retry-After", path)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", path, got)
		}
		if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
			t.Errorf("%s: Content-Type %q", path, got)
		}
	}
}

func TestOnlyTheAnnotationTrueSuspends(t *testing.T) {
	c := controllerWith(t,
		storeIngress("running", "running.stores.localtest.me", map[string]string{suspendedAnnotation: "false"}),
		storeIngress("paused", "paused.stores.localtest.me", map[string]string{suspendedAnnotation: "true"}))
	routes := c.routes("running.stores.localtest.me")
	if len(routes) != 1 || routes[0].suspended {
		t.Fatalf("running store's routes: %+v", routes)
	}
	routes = c.routes("paused.stores.localtest.me")
	if len(routes) != 1 || !routes[0].suspended {
		t.Fatalf("suspended store's routes: %+v", routes)
	}
}
