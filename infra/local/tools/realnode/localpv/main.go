// Command storefleet-localpv provisions local volumes for the local real node: for each
// PersistentVolumeClaim of its StorageClass (volumeBindingMode WaitForFirstConsumer) that the
// scheduler placed on the node, it makes a directory under --root and a `local`
// PersistentVolume bound to the claim; when such a volume is Released (its claim deleted with
// the store), it removes the directory and the volume.
//
// Why not the controller-manager's host-path provisioner: Kubernetes applies no ownership to
// hostPath volumes, so its root-owned 0750 directories are not writable by a pod's non-root
// user (PostgreSQL, uid 999). The kubelet applies a pod's fsGroup to `local` volumes, as to a
// real disk, so a store's database keeps its data across restarts, plan changes and suspend.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// provisionedByAnnotation names the provisioner that made a volume (the PV controller's own).
const provisionedByAnnotation = "pv.kubernetes.io/provisioned-by"

// selectedNodeAnnotation is where the scheduler says which node a WaitForFirstConsumer claim's
// first pod runs on.
const selectedNodeAnnotation = "volume.kubernetes.io/selected-node"

type settings struct {
	class, provisioner, node, root string
}

// wantsVolume says whether the claim is one this provisioner makes a volume for: of its
// class, placed on its node by the scheduler, not bound, not being deleted.
func (s settings) wantsVolume(pvc *corev1.PersistentVolumeClaim) bool {
	return pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName == s.class &&
		pvc.Spec.VolumeName == "" && pvc.DeletionTimestamp == nil &&
		pvc.Annotations[selectedNodeAnnotation] == s.node
}

// volumePath is the directory of the claim's volume: one per claim uid, directly under root.
func (s settings) volumePath(pvc *corev1.PersistentVolumeClaim) string {
	return filepath.Join(s.root, string(pvc.UID))
}

// volumeFor is the PersistentVolume made for the claim: its size, access modes and mode, a
// `local` source at volumePath, pinned to the node, pre-bound to the claim (the PV controller
// completes the binding), deleted by this provisioner when released.
func (s settings) volumeFor(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	filesystem := corev1.PersistentVolumeFilesystem
	mode := pvc.Spec.VolumeMode
	if mode == nil {
		mode = &filesystem
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-" + string(pvc.UID),
			Annotations: map[string]string{provisionedByAnnotation: s.provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			VolumeMode:                    mode,
			StorageClassName:              s.class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				Local: &corev1.LocalVolumeSource{Path: s.volumePath(pvc)},
			},
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{s.node},
				}}}},
			}},
		},
	}
}

// releasedPath is the directory to remove for a volume this provisioner made whose claim is
// gone (Released or Failed with the Delete policy), or "" when the volume is not one to delete.
// A path outside root is never returned, whatever the volume says.
func (s settings) releasedPath(pv *corev1.PersistentVolume) string {
	if pv.Annotations[provisionedByAnnotation] != s.provisioner || pv.DeletionTimestamp != nil ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		(pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed) ||
		pv.Spec.Local == nil {
		return ""
	}
	path := filepath.Clean(pv.Spec.Local.Path)
	if filepath.Dir(path) != filepath.Clean(s.root) || strings.HasPrefix(filepath.Base(path), ".") {
		return ""
	}
	return path
}

type provisioner struct {
	settings
	client kubernetes.Interface
}

func (p *provisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	if !p.wantsVolume(pvc) {
		return
	}
	pv := p.volumeFor(pvc)
	// 0700, root's: the kubelet gives the pod's fsGroup the directory (group rwx, setgid) when
	// it mounts the volume, as it does for a disk.
	if err := os.MkdirAll(pv.Spec.Local.Path, 0o700); err != nil {
		log.Printf("claim %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	_, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	switch {
	case err == nil:
		log.Printf("claim %s/%s: volume %s at %s (%s)", pvc.Namespace, pvc.Name, pv.Name, pv.Spec.Local.Path,
			pv.Spec.Capacity.Storage().String())
	case apierrors.IsAlreadyExists(err):
	default:
		log.Printf("claim %s/%s: creating volume %s: %v", pvc.Namespace, pvc.Name, pv.Name, err)
	}
}

func (p *provisioner) reclaim(ctx context.Context, pv *corev1.PersistentVolume) {
	path := p.releasedPath(pv)
	if path == "" {
		return
	}
	if err := os.RemoveAll(path); err != nil {
		log.Printf("volume %s: removing %s: %v", pv.Name, path, err)
		return
	}
	err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pv.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		log.Printf("volume %s: deleting: %v", pv.Name, err)
		return
	}
	log.Printf("volume %s: released; removed %s", pv.Name, path)
}

func main() {
	var s settings
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the local stack")
	flag.StringVar(&s.class, "class", "storefleet-real-node", "the StorageClass whose claims to serve")
	flag.StringVar(&s.provisioner, "provisioner", "storefleet.io/real-node-local", "the StorageClass's provisioner name")
	flag.StringVar(&s.node, "node", "", "the node whose claims to serve (its kubernetes.io/hostname)")
	flag.StringVar(&s.root, "root", "", "the directory that holds the volumes")
	flag.Parse()
	if s.node == "" || s.root == "" || !filepath.IsAbs(s.root) {
		log.Fatal("--node and an absolute --root are required")
	}
	if err := os.MkdirAll(s.root, 0o711); err != nil {
		log.Fatal(err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		log.Fatal(err)
	}
	p := &provisioner{settings: s, client: client}
	ctx := context.Background()
	// Resync: a volume whose create or delete failed is tried again within 30 s.
	factory := informers.NewSharedInformerFactory(client, 30*time.Second)
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	volumes := factory.Core().V1().PersistentVolumes().Informer()
	onClaim := func(obj any) {
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
			p.provision(ctx, pvc)
		}
	}
	onVolume := func(obj any) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			p.reclaim(ctx, pv)
		}
	}
	mustAdd(claims.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onClaim, UpdateFunc: func(_, obj any) { onClaim(obj) },
	}))
	mustAdd(volumes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onVolume, UpdateFunc: func(_, obj any) { onVolume(obj) },
	}))
	factory.Start(ctx.Done())
	for informer, synced := range factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			log.Fatalf("cache of %v did not sync", informer)
		}
	}
	fmt.Printf("storefleet-localpv: serving class %s on node %s, volumes in %s\n", s.class, s.node, s.root)
	select {}
}

func mustAdd(_ cache.ResourceEventHandlerRegistration, err error) {
	if err != nil {
		log.Fatal(err)
	}
}
