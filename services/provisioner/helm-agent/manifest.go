package main

// The "manifest" op: what the deployed release rendered, summarised for drift judging
// (docs/decisions/0012-drift-repair.md). The provisioner records it on the store's namespace
// when the store converges, and compares what its watches see with it: an object of the
// release that is gone, a workload whose containers' images or resources are not the rendered
// ones. Only a summary leaves the agent (kinds, names, the instance label, each pod template's
// containers' name, image and resources): never a rendered Secret's data.

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// containerSummary is what drift compares of one container of a pod template.
type containerSummary struct {
	Name      string                 `json:"name"`
	Image     string                 `json:"image,omitempty"`
	Resources map[string]interface{} `json:"resources,omitempty"`
}

// manifestObject is one object of the release's manifest (hooks are not in it).
type manifestObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
	// The app.kubernetes.io/instance label: the provisioner's watches select on it.
	Instance       string             `json:"instance,omitempty"`
	Containers     []containerSummary `json:"containers,omitempty"`
	InitContainers []containerSummary `json:"initContainers,omitempty"`
}

type manifestSummary struct {
	Revision int              `json:"revision"`
	Objects  []manifestObject `json:"objects"`
}

func (a *agent) manifest(ctx context.Context, req *request) (answer, error) {
	if req.Release == "" || req.Namespace == "" {
		return answer{}, errors.New("release and namespace are required")
	}
	cfg, err := a.config(ctx, req.Namespace)
	if err != nil {
		return answer{}, err
	}
	summary, err := manifestWith(cfg, req.Release)
	if err != nil {
		return answer{}, err
	}
	return answer{Manifest: summary}, nil
}

// manifestWith summarises the last revision of `name`, which must be deployed: a release being
// changed or failed has no settled manifest to judge against.
func manifestWith(cfg *action.Configuration, name string) (*manifestSummary, error) {
	last, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, fmt.Errorf("MANIFEST FAILED: %w", err)
	}
	if last == nil || last.Info == nil {
		return nil, errors.New("MANIFEST FAILED: the release has no revision")
	}
	if last.Info.Status != release.StatusDeployed {
		return nil, fmt.Errorf("MANIFEST FAILED: the release's last revision is %s, not deployed", last.Info.Status)
	}
	summary, err := summarise(last.Manifest)
	if err != nil {
		return nil, fmt.Errorf("MANIFEST FAILED: %w", err)
	}
	summary.Revision = last.Version
	return summary, nil
}

// renderedObject is the part of a rendered object that summarise reads.
type renderedObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers     []containerSummary `json:"containers"`
				InitContainers []containerSummary `json:"initContainers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func summarise(manifest string) (*manifestSummary, error) {
	documents := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(documents))
	for key := range documents {
		keys = append(keys, key)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	summary := &manifestSummary{Objects: []manifestObject{}}
	for _, key := range keys {
		var object renderedObject
		if err := yaml.Unmarshal([]byte(documents[key]), &object); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if object.Kind == "" || object.Metadata.Name == "" {
			continue // an empty document
		}
		summary.Objects = append(summary.Objects, manifestObject{
			APIVersion:     object.APIVersion,
			Kind:           object.Kind,
			Name:           object.Metadata.Name,
			Namespace:      object.Metadata.Namespace,
			Instance:       object.Metadata.Labels["app.kubernetes.io/instance"],
			Containers:     object.Spec.Template.Spec.Containers,
			InitContainers: object.Spec.Template.Spec.InitContainers,
		})
	}
	return summary, nil
}
