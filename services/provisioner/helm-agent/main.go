// storefleet-helm-agent: one long-lived process that runs Helm's SDK for the provisioner, so
// an install costs no process start-up, kubeconfig read, API discovery or chart parse, and
// recovers releases left pending by a runner that died (recover.go).
//
// The protocol (JSON lines on stdin/stdout, the requests, their answers, cancels) is written
// down once, in PROTOCOL.md; the provisioner's client is src/helm_agent.cpp.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

type request struct {
	ID             int64           `json:"id"`
	Op             string          `json:"op"`
	Release        string          `json:"release"`
	Namespace      string          `json:"namespace"`
	Chart          string          `json:"chart"`
	ValuesFiles    []string        `json:"values_files"`
	Values         json.RawMessage `json:"values"`
	TimeoutSeconds int64           `json:"timeout_seconds"`
	// Absent: true, like the provisioner's --disable-openapi-validation.
	DisableOpenAPIValidation *bool `json:"disable_openapi_validation"`
	// upgrade_install only: no new revision when the last one is deployed with the same chart
	// (name and version) and the same user-supplied values.
	SkipIfUnchanged bool `json:"skip_if_unchanged"`
}

func (r *request) disableOpenAPIValidation() bool {
	return r.DisableOpenAPIValidation == nil || *r.DisableOpenAPIValidation
}

type answer struct {
	ID    int64  `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// recover_pending only: what it found and did.
	Recovery *recovery `json:"recovery,omitempty"`
	// upgrade_install with skip_if_unchanged only: the deployed release already was what the
	// request asked for, so no revision was made.
	Unchanged bool `json:"unchanged,omitempty"`
	// manifest only: the deployed release's objects, summarised (manifest.go).
	Manifest *manifestSummary `json:"manifest,omitempty"`
}

// sharedGetter is the one RESTClientGetter of the process: one REST config, one in-memory
// discovery cache and one REST mapper for every namespace and every call (the namespace is
// set on each call's kube client).
type sharedGetter struct {
	loader    clientcmd.ClientConfig
	config    *rest.Config
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

var _ genericclioptions.RESTClientGetter = (*sharedGetter)(nil)

func (g *sharedGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.config), nil }
func (g *sharedGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.discovery, nil
}
func (g *sharedGetter) ToRESTMapper() (meta.RESTMapper, error)        { return g.mapper, nil }
func (g *sharedGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return g.loader }

func newSharedGetter() (*sharedGetter, error) {
	// The same loading as the CLI: $KUBECONFIG, else ~/.kube/config, else in-cluster.
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	config, err := loader.ClientConfig()
	if err != nil {
		return nil, err
	}
	// The CLI's client-side limits (HELM_QPS 0: client-go's default; HELM_BURST_LIMIT 100).
	config.QPS = 0
	config.Burst = 100
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	return &sharedGetter{loader: loader, config: config, discovery: cached, mapper: mapper}, nil
}

// callGetter is the getter of one call: the shared one, except that every API request of
// the call fails once the call is cancelled. Helm's RunWithContext returns at a cancel but
// leaves its install goroutine running; this stops that goroutine from writing anything after
// the cancel (its objects or the release record), as a kill of the CLI process would, so a
// cancelled install is left pending-install for the next runner to recover.
type callGetter struct {
	*sharedGetter
	ctx context.Context
}

func (g *callGetter) ToRESTConfig() (*rest.Config, error) {
	config := rest.CopyConfig(g.config)
	ctx := g.ctx
	config.Wrap(func(next http.RoundTripper) http.RoundTripper { return &cancelTransport{next: next, ctx: ctx} })
	return config, nil
}

type cancelTransport struct {
	next http.RoundTripper
	ctx  context.Context
}

func (t *cancelTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, fmt.Errorf("helm agent: the call was cancelled: %w", err)
	}
	return t.next.RoundTrip(req)
}

// chartCache keeps each chart directory loaded; a chart is loaded again when any of its
// files changed (mtime, size or count).
type chartCache struct {
	mu     sync.Mutex
	charts map[string]*cachedChart
}

type cachedChart struct {
	stamp string
	chart *chart.Chart
}

func chartStamp(dir string) (string, error) {
	var newest int64
	var size int64
	count := 0
	err := filepath.WalkDir(dir, func(_ string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := entry.Info()
		if err != nil {
			return err
		}
		count++
		size += info.Size()
		if t := info.ModTime().UnixNano(); t > newest {
			newest = t
		}
		return nil
	})
	return fmt.Sprintf("%d/%d/%d", newest, size, count), err
}

func (c *chartCache) get(dir string) (*chart.Chart, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	stamp, err := chartStamp(abs)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	entry := c.charts[abs]
	if entry == nil || entry.stamp != stamp {
		loaded, err := loader.Load(abs)
		if err != nil {
			return nil, err
		}
		if req := loaded.Metadata.Dependencies; req != nil {
			if err := action.CheckDependencies(loaded, req); err != nil {
				return nil, fmt.Errorf("An error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: %w", err)
			}
		}
		entry = &cachedChart{stamp: stamp, chart: loaded}
		c.charts[abs] = entry
		log.Printf("loaded chart %s", abs)
	}
	if len(entry.chart.Dependencies()) > 0 {
		// Helm rewires the dependencies of the chart it installs: a fresh copy per call.
		return loader.Load(abs)
	}
	// A shallow copy per call: Helm sets the (empty) dependency list on the chart it gets;
	// everything else of the chart is only read.
	copied := *entry.chart
	return &copied, nil
}

type agent struct {
	getter     *sharedGetter
	charts     chartCache
	maxHistory int
	debug      bool

	capsMu   sync.Mutex
	caps     *chartutil.Capabilities
	capsTime time.Time

	outMu sync.Mutex
	out   *bufio.Writer

	// run performs one request: runHelm, or a fake in the tests. The answer it returns
	// carries what a request reports besides ok/error (handle sets id, ok and error).
	run func(ctx context.Context, req *request) (answer, error)
	// beforeHandle, when set (tests only), runs first in each request's goroutine.
	beforeHandle func(req *request)

	runMu    sync.Mutex
	running  map[int64]*call
	inflight sync.WaitGroup // the requests under way
}

// call is one request under way: cancel ends its context.
type call struct {
	ctx     context.Context
	cancel  context.CancelFunc
	release string // namespace/release it acts on
}

func releaseKey(req *request) string { return req.Namespace + "/" + req.Release }

const capabilitiesTTL = 5 * time.Minute

func (a *agent) logf(format string, v ...interface{}) {
	if a.debug {
		log.Printf(format, v...)
	}
}

// config returns an action configuration for one call in `ns`, on the shared getter, with
// the shared capabilities (discovered at most every capabilitiesTTL).
func (a *agent) config(ctx context.Context, ns string) (*action.Configuration, error) {
	cfg := &action.Configuration{}
	if err := cfg.Init(&callGetter{sharedGetter: a.getter, ctx: ctx}, ns, "secret", a.logf); err != nil {
		return nil, err
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Namespace = ns
	}
	a.capsMu.Lock()
	defer a.capsMu.Unlock()
	if a.caps == nil || time.Since(a.capsTime) > capabilitiesTTL {
		// What Helm's getCapabilities does, once per capabilitiesTTL instead of per call.
		caps, err := discoverCapabilities(a.getter)
		if err != nil {
			return nil, err
		}
		a.caps = caps
		a.capsTime = time.Now()
	}
	cfg.Capabilities = a.caps
	return cfg, nil
}

func discoverCapabilities(g *sharedGetter) (*chartutil.Capabilities, error) {
	g.discovery.Invalidate()
	version, err := g.discovery.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("could not get server version from Kubernetes: %w", err)
	}
	versions, err := action.GetVersionSet(g.discovery)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("could not get apiVersions from Kubernetes: %w", err)
	}
	return &chartutil.Capabilities{
		APIVersions: versions,
		KubeVersion: chartutil.KubeVersion{Version: version.GitVersion, Major: version.Major, Minor: version.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}, nil
}

// mergeValues merges `src` into `dst` like Helm's -f: maps merge key by key, anything
// else replaces.
func mergeValues(dst, src map[string]interface{}) map[string]interface{} {
	for key, value := range src {
		if srcMap, ok := value.(map[string]interface{}); ok {
			if dstMap, ok := dst[key].(map[string]interface{}); ok {
				dst[key] = mergeValues(dstMap, srcMap)
				continue
			}
		}
		dst[key] = value
	}
	return dst
}

func (a *agent) values(req *request) (map[string]interface{}, error) {
	merged := map[string]interface{}{}
	for _, file := range req.ValuesFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("failed to read values file %s: %w", file, err)
		}
		current := map[string]interface{}{}
		if err := yaml.Unmarshal(data, &current); err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", file, err)
		}
		merged = mergeValues(merged, current)
	}
	if len(req.Values) > 0 {
		// The CLI gets these as a JSON file read as YAML; the same parse here.
		current := map[string]interface{}{}
		if err := yaml.Unmarshal(req.Values, &current); err != nil {
			return nil, fmt.Errorf("failed to parse the values: %w", err)
		}
		merged = mergeValues(merged, current)
	}
	return merged, nil
}

func timeoutOf(req *request) time.Duration {
	if req.TimeoutSeconds <= 0 {
		return 300 * time.Second
	}
	return time.Duration(req.TimeoutSeconds) * time.Second
}

func (a *agent) upgradeInstall(ctx context.Context, req *request) (answer, error) {
	if req.Release == "" || req.Namespace == "" || req.Chart == "" {
		return answer{}, errors.New("release, namespace and chart are required")
	}
	cfg, err := a.config(ctx, req.Namespace)
	if err != nil {
		return answer{}, err
	}
	vals, err := a.values(req)
	if err != nil {
		return answer{}, err
	}
	ch, err := a.charts.get(req.Chart)
	if err != nil {
		return answer{}, err
	}
	unchanged, err := upgradeInstallWith(ctx, cfg, req, ch, vals, a.maxHistory)
	return answer{Unchanged: unchanged}, err
}

// sameValues: both sets of user-supplied values are the same once encoded (the release
// record's come back from JSON, the request's from YAML; nil and empty are the same).
func sameValues(recorded, requested map[string]interface{}) bool {
	if len(recorded) == 0 && len(requested) == 0 {
		return true
	}
	a, errA := json.Marshal(recorded)
	b, errB := json.Marshal(requested)
	return errA == nil && errB == nil && string(a) == string(b)
}

// unchangedRelease: the release's last revision is deployed with chart ch (name and version)
// and exactly these user-supplied values, so an upgrade would only repeat it.
func unchangedRelease(cfg *action.Configuration, name string, ch *chart.Chart, vals map[string]interface{}) bool {
	last, err := cfg.Releases.Last(name)
	if err != nil || last == nil || last.Info == nil || last.Chart == nil || last.Chart.Metadata == nil {
		return false
	}
	return last.Info.Status == release.StatusDeployed &&
		last.Chart.Metadata.Name == ch.Metadata.Name &&
		last.Chart.Metadata.Version == ch.Metadata.Version &&
		sameValues(last.Config, vals)
}

// upgradeInstallWith installs or upgrades on cfg; true when skip_if_unchanged found nothing to
// do (no new revision, so a replayed install never becomes revision 2).
func upgradeInstallWith(ctx context.Context, cfg *action.Configuration, req *request, ch *chart.Chart,
	vals map[string]interface{}, maxHistory int) (bool, error) {
	history := action.NewHistory(cfg)
	history.Max = 1
	versions, err := history.Run(req.Release)
	uninstalled := len(versions) > 0 && versions[len(versions)-1].Info.Status == release.StatusUninstalled
	if err == driver.ErrReleaseNotFound || uninstalled {
		switch ch.Metadata.Type {
		case "", "application":
		default:
			return false, fmt.Errorf("%s charts are not installable", ch.Metadata.Type)
		}
		install := action.NewInstall(cfg)
		install.ReleaseName = req.Release
		install.Namespace = req.Namespace
		install.Timeout = timeoutOf(req)
		install.DisableOpenAPIValidation = req.disableOpenAPIValidation()
		install.DryRunOption = "none"
		install.Replace = uninstalled
		_, err = install.RunWithContext(ctx, ch, vals)
		return false, err
	} else if err != nil {
		return false, err
	}
	if req.SkipIfUnchanged && unchangedRelease(cfg, req.Release, ch, vals) {
		return true, nil
	}
	upgrade := action.NewUpgrade(cfg)
	upgrade.Install = true
	upgrade.Namespace = req.Namespace
	upgrade.Timeout = timeoutOf(req)
	upgrade.DisableOpenAPIValidation = req.disableOpenAPIValidation()
	upgrade.DryRunOption = "none"
	upgrade.MaxHistory = maxHistory
	if _, err := upgrade.RunWithContext(ctx, req.Release, ch, vals); err != nil {
		return false, fmt.Errorf("UPGRADE FAILED: %w", err)
	}
	return false, nil
}

// repair upgrades the deployed release with its own chart and values, the ones its last
// revision recorded: Helm's three-way merge (old manifest, new manifest, live object) then
// re-creates the objects of the release that were deleted and puts back the fields changed by
// hand (drift repair, docs/decisions/0012-drift-repair.md). A release whose last revision is not
// deployed is refused: that is the provisioner's to converge, not drift.
func (a *agent) repair(ctx context.Context, req *request) error {
	if req.Release == "" || req.Namespace == "" {
		return errors.New("release and namespace are required")
	}
	cfg, err := a.config(ctx, req.Namespace)
	if err != nil {
		return err
	}
	return repairWith(ctx, cfg, req, a.maxHistory)
}

func repairWith(ctx context.Context, cfg *action.Configuration, req *request, maxHistory int) error {
	last, err := cfg.Releases.Last(req.Release)
	if err != nil {
		return fmt.Errorf("REPAIR FAILED: %w", err)
	}
	if last == nil || last.Info == nil || last.Chart == nil {
		return errors.New("REPAIR FAILED: the release has no revision to repair from")
	}
	if last.Info.Status != release.StatusDeployed {
		return fmt.Errorf("REPAIR FAILED: the release's last revision is %s, not deployed", last.Info.Status)
	}
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = req.Namespace
	upgrade.Timeout = timeoutOf(req)
	upgrade.DisableOpenAPIValidation = req.disableOpenAPIValidation()
	upgrade.DryRunOption = "none"
	upgrade.MaxHistory = maxHistory
	upgrade.Description = "storefleet drift repair"
	if _, err := upgrade.RunWithContext(ctx, req.Release, last.Chart, last.Config); err != nil {
		return fmt.Errorf("REPAIR FAILED: %w", err)
	}
	return nil
}

func (a *agent) uninstall(ctx context.Context, req *request) error {
	if req.Release == "" || req.Namespace == "" {
		return errors.New("release and namespace are required")
	}
	cfg, err := a.config(ctx, req.Namespace)
	if err != nil {
		return err
	}
	uninstall := action.NewUninstall(cfg)
	uninstall.IgnoreNotFound = true
	uninstall.Timeout = timeoutOf(req)
	uninstall.DeletionPropagation = "background"
	_, err = uninstall.Run(req.Release)
	return err
}

func (a *agent) reply(ans answer) {
	data, _ := json.Marshal(ans)
	a.outMu.Lock()
	defer a.outMu.Unlock()
	a.out.Write(data)
	a.out.WriteByte('\n')
	a.out.Flush()
}

// recoverRelease answers recover_pending (recover.go). It refuses while another request of
// this agent acts on the same release and has not been cancelled: the pending operation may
// be that one's.
func (a *agent) recoverRelease(ctx context.Context, req *request) (answer, error) {
	if req.Release == "" || req.Namespace == "" {
		return answer{}, errors.New("release and namespace are required")
	}
	if a.busyElsewhere(req) {
		return answer{}, errOperationInProgress
	}
	cfg, err := a.config(ctx, req.Namespace)
	if err != nil {
		return answer{}, err
	}
	found, err := recoverPending(cfg, req.Release, timeoutOf(req), a.maxHistory)
	if err != nil {
		return answer{}, err
	}
	if found.Action != recoveryNone {
		log.Printf("recovered release=%s namespace=%s left %s at revision %d: %s", req.Release, req.Namespace,
			found.State, found.Revision, found.Action)
	}
	return answer{Recovery: &found}, nil
}

// busyElsewhere: another request under way, not cancelled, acts on req's release.
func (a *agent) busyElsewhere(req *request) bool {
	key := releaseKey(req)
	a.runMu.Lock()
	defer a.runMu.Unlock()
	for id, c := range a.running {
		if id != req.ID && c.release == key && c.ctx.Err() == nil {
			return true
		}
	}
	return false
}

func (a *agent) runHelm(ctx context.Context, req *request) (answer, error) {
	switch req.Op {
	case "upgrade_install":
		return a.upgradeInstall(ctx, req)
	case "uninstall":
		return answer{}, a.uninstall(ctx, req)
	case "recover_pending":
		return a.recoverRelease(ctx, req)
	case "repair":
		return answer{}, a.repair(ctx, req)
	case "manifest":
		return a.manifest(ctx, req)
	default:
		return answer{}, fmt.Errorf("unknown op %q", req.Op)
	}
}

// handle runs one request, registered by dispatch as `c`, and answers it. A request whose
// cancel was read before it got here does not run at all.
func (a *agent) handle(c *call, req request) {
	ctx := c.ctx
	start := time.Now()
	var err error
	var ans answer
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("helm agent panic: %v", r)
			}
		}()
		if ctx.Err() != nil {
			return // cancelled before it started: answered "cancelled" below
		}
		ans, err = a.run(ctx, &req)
	}()
	if ctx.Err() != nil && err == nil {
		err = errors.New("cancelled")
	}
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	if err == nil && ans.Unchanged {
		outcome = "unchanged"
	}
	log.Printf("%s release=%s namespace=%s %s in %dms", req.Op, req.Release, req.Namespace, outcome,
		time.Since(start).Milliseconds())
	// Forgotten before it is answered: the caller may act on the answer at once (a
	// recover_pending after a "pending" failure), and must not find this request still
	// acting on the release (busyElsewhere).
	a.finish(req.ID, c)
	if err != nil {
		a.reply(answer{ID: req.ID, Error: "Error: " + err.Error()})
		return
	}
	ans.ID = req.ID
	ans.OK = true
	ans.Error = ""
	a.reply(ans)
}

// register makes the request `id` cancellable. dispatch calls it before the request's
// goroutine exists, so a cancel read on the very next line finds it.
func (a *agent) register(req *request) *call {
	ctx, cancel := context.WithCancel(context.Background())
	c := &call{ctx: ctx, cancel: cancel, release: releaseKey(req)}
	a.runMu.Lock()
	defer a.runMu.Unlock()
	a.running[req.ID] = c
	return c
}

// finish forgets the request `id` (unless a later request took its id) and frees its context.
func (a *agent) finish(id int64, c *call) {
	a.runMu.Lock()
	if a.running[id] == c {
		delete(a.running, id)
	}
	a.runMu.Unlock()
	c.cancel()
}

// cancelCall cancels the request `id` if it is under way. An id that is not (its request
// finished, and its answer went or goes unread) is no error: nothing is left to stop.
func (a *agent) cancelCall(id int64) {
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if c := a.running[id]; c != nil {
		c.cancel()
	}
}

// dispatch acts on one line of stdin: a cancel at once, a request on a goroutine of its own.
func (a *agent) dispatch(line []byte) {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		log.Printf("ignoring a request that is not JSON")
		return
	}
	if req.Op == "cancel" {
		a.cancelCall(req.ID)
		return
	}
	// Registered here, not in the goroutine: the provisioner writes a request's cancel right
	// after it, and this loop may read and apply that cancel before the goroutine runs.
	c := a.register(&req)
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		if a.beforeHandle != nil {
			a.beforeHandle(&req)
		}
		a.handle(c, req)
	}()
}

// serve reads requests from `in` until it ends. It returns at EOF without waiting for the
// requests under way (a.inflight counts them).
func (a *agent) serve(in io.Reader) error {
	reader := bufio.NewReader(in)
	for {
		line, err := reader.ReadBytes('\n')
		if len(line) > 0 {
			a.dispatch(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func main() {
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("helm-agent: ")
	// The field manager of the objects: the CLI's ("helm"), not this binary's name.
	kube.ManagedFieldsManager = "helm"

	getter, err := newSharedGetter()
	if err != nil {
		log.Fatalf("no Kubernetes configuration: %v", err)
	}
	maxHistory := 10 // the CLI's default
	if text := os.Getenv("HELM_MAX_HISTORY"); text != "" {
		if n, err := strconv.Atoi(text); err == nil {
			maxHistory = n
		}
	}
	a := &agent{
		getter:     getter,
		charts:     chartCache{charts: map[string]*cachedChart{}},
		maxHistory: maxHistory,
		debug:      os.Getenv("HELM_DEBUG") == "true",
		out:        bufio.NewWriter(os.Stdout),
		running:    map[int64]*call{},
	}
	a.run = a.runHelm
	log.Printf("ready")
	if err := a.serve(os.Stdin); err != nil {
		log.Fatalf("reading stdin: %v", err)
	}
	log.Printf("stdin closed: exiting")
}
