package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testSettings = settings{class: "local-class", provisioner: "example.io/local", node: "node-0", root: "/var/volumes"}

func claim(class, node string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "store-1", Name: "data-db-0", UID: "c1a1m",
			Annotations: map[string]string{}},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
	}
	if node != "" {
		pvc.Annotations[selectedNodeAnnotation] = node
	}
	return pvc
}

func TestOnlyClaimsOfTheClassPlacedOnTheNodeAndUnboundGetAVolume(t *testing.T) {
	if !testSettings.wantsVolume(claim("local-class", "node-0")) {
		t.Error("a claim of the class placed on the node should get a volume")
	}
	for name, pvc := range map[string]*corev1.PersistentVolumeClaim{
		"another class":     claim("standard", "node-0"),
		"not yet placed":    claim("local-class", ""),
		"placed on another": claim("local-class", "node-1"),
		"already bound": func() *corev1.PersistentVolumeClaim {
			c := claim("local-class", "node-0")
			c.Spec.VolumeName = "pv"
			return c
		}(),
		"being deleted": func() *corev1.PersistentVolumeClaim {
			c := claim("local-class", "node-0")
			c.DeletionTimestamp = &metav1.Time{}
			return c
		}(),
		"without a class set": func() *corev1.PersistentVolumeClaim {
			c := claim("", "node-0")
			c.Spec.StorageClassName = nil
			return c
		}(),
	} {
		if testSettings.wantsVolume(pvc) {
			t.Errorf("%s: should get no volume", name)
		}
	}
}

func TestTheVolumeIsLocalPinnedToTheNodeAndPreBoundToTheClaim(t *testing.T) {
	pv := testSettings.volumeFor(claim("local-class", "node-0"))
	if pv.Name != "pvc-c1a1m" || pv.Spec.Local == nil || pv.Spec.Local.Path != "/var/volumes/c1a1m" {
		t.Fatalf("name %q, source %+v", pv.Name, pv.Spec.PersistentVolumeSource)
	}
	if got := pv.Spec.Capacity.Storage().String(); got != "2Gi" {
		t.Errorf("capacity %s, want the claim's 2Gi", got)
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Namespace != "store-1" || pv.Spec.ClaimRef.Name != "data-db-0" ||
		pv.Spec.ClaimRef.UID != "c1a1m" {
		t.Errorf("claimRef %+v", pv.Spec.ClaimRef)
	}
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || terms[0].MatchExpressions[0].Values[0] != "node-0" {
		t.Errorf("node affinity %+v", terms)
	}
	if pv.Spec.StorageClassName != "local-class" || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		pv.Annotations[provisionedByAnnotation] != "example.io/local" || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("class %q, policy %q, annotations %v", pv.Spec.StorageClassName, pv.Spec.PersistentVolumeReclaimPolicy, pv.Annotations)
	}
}

func TestOnlyReleasedVolumesOfOursInsideTheRootAreRemoved(t *testing.T) {
	released := func(path string) *corev1.PersistentVolume {
		pv := testSettings.volumeFor(claim("local-class", "node-0"))
		pv.Spec.Local.Path = path
		pv.Status.Phase = corev1.VolumeReleased
		return pv
	}
	if got := testSettings.releasedPath(released("/var/volumes/c1a1m")); got != "/var/volumes/c1a1m" {
		t.Errorf("a released volume of ours: %q", got)
	}
	bound := released("/var/volumes/c1a1m")
	bound.Status.Phase = corev1.VolumeBound
	retained := released("/var/volumes/c1a1m")
	retained.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	others := released("/var/volumes/c1a1m")
	others.Annotations[provisionedByAnnotation] = "kubernetes.io/host-path"
	for name, pv := range map[string]*corev1.PersistentVolume{
		"bound":                bound,
		"retained":             retained,
		"another provisioner":  others,
		"the root itself":      released("/var/volumes"),
		"outside the root":     released("/etc"),
		"escaping the root":    released("/var/volumes/../../etc"),
		"nested below a claim": released("/var/volumes/c1a1m/x"),
		"a hidden directory":   released("/var/volumes/.."),
	} {
		if got := testSettings.releasedPath(pv); got != "" {
			t.Errorf("%s: would remove %q", name, got)
		}
	}
}
