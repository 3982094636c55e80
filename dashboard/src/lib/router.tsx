// A router of a few lines: the dashboard has four screens, and nginx serves index.html for
// every path (try_files), so history URLs work on reload.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function usePath(): string {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  return path;
}

export type Route =
  | { name: 'list' }
  | { name: 'create' }
  | { name: 'detail'; id: string }
  | { name: 'admin' }
  | { name: 'rollouts' }
  | { name: 'rollout'; id: string }
  | { name: 'missing' };

export function matchRoute(path: string): Route {
  if (path === '/' || path === '' || path === '/stores' || path === '/index.html') return { name: 'list' };
  if (path === '/stores/new') return { name: 'create' };
  const detail = /^\/stores\/([^/]+)\/?$/.exec(path);
  if (detail) return { name: 'detail', id: decodeURIComponent(detail[1]) };
  if (path === '/admin') return { name: 'admin' };
  if (path === '/admin/rollouts' || path === '/admin/rollouts/') return { name: 'rollouts' };
  const rollout = /^\/admin\/rollouts\/([^/]+)\/?$/.exec(path);
  if (rollout) return { name: 'rollout', id: decodeURIComponent(rollout[1]) };
  return { name: 'missing' };
}

export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
