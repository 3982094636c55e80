import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import type { ApiClient, RolloutProgress, Store } from './api';
import { StoreStream, type LiveMode } from './live';

type Listener = (store: Store) => void;
type RolloutListener = (rollout: RolloutProgress) => void;

interface LiveValue {
  mode: LiveMode;
  subscribe: (listener: Listener) => () => void;
  /** Rollout changes (admin streams only). */
  subscribeRollouts: (listener: RolloutListener) => () => void;
  /** Bumped when views must re-read what they show: the stream was reset or (re)connected. */
  generation: number;
}

export const LiveContext = createContext<LiveValue>({
  mode: 'polling',
  subscribe: () => () => {},
  subscribeRollouts: () => () => {},
  generation: 0,
});

/** One stream for the whole app; views subscribe to store changes and poll when not live. */
export function LiveProvider({ api, children }: { api: ApiClient; children: ReactNode }) {
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [generation, setGeneration] = useState(0);
  const listeners = useRef(new Set<Listener>());
  const rolloutListeners = useRef(new Set<RolloutListener>());
  useEffect(() => {
    const stream = new StoreStream(api, {
      // Changes between the last poll and a new stream's start are re-read, not lost.
      onMode: (m) => {
        setMode(m);
        if (m === 'live') setGeneration((g) => g + 1);
      },
      onReset: () => setGeneration((g) => g + 1),
      onStore: (store) => listeners.current.forEach((l) => l(store)),
      onRollout: (rollout) => rolloutListeners.current.forEach((l) => l(rollout)),
    });
    stream.start();
    return () => stream.stop();
  }, [api]);
  const subscribeRef = useRef((listener: Listener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  });
  const subscribeRolloutsRef = useRef((listener: RolloutListener) => {
    rolloutListeners.current.add(listener);
    return () => {
      rolloutListeners.current.delete(listener);
    };
  });
  return (
    <LiveContext.Provider value={{ mode, subscribe: subscribeRef.current, subscribeRollouts: subscribeRolloutsRef.current, generation }}>
      {children}
    </LiveContext.Provider>
  );
}

export function useLive(): LiveValue {
  return useContext(LiveContext);
}

/** Calls fn every intervalMs while enabled (and the tab is visible); fn must not throw. */
export function usePolling(enabled: boolean, fn: () => void, intervalMs = 3000): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!enabled) return;
    const id = setInterval(() => {
      if (typeof document === 'undefined' || document.visibilityState !== 'hidden') saved.current();
    }, intervalMs);
    return () => clearInterval(id);
  }, [enabled, intervalMs]);
}

/** Re-renders every intervalMs, for "time since" labels. */
export function useNow(intervalMs = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}
