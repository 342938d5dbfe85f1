/**
 * Holds a transfer to a minimum rate, counting only time spent waiting on
 * the peer: while the server itself works (reading the disk, writing it,
 * building a listing page) the clock stops, so a slow disk is never blamed
 * on the client. Once a full window of the peer's time has passed with
 * fewer than minRate × window bytes moved, `onTooSlow` runs (once).
 */
export interface Guard {
  /** Stops the clock while `work` runs: the server's own time. */
  paused<T>(work: Promise<T>): Promise<T>;
  stop(): void;
}

export const NO_GUARD: Guard = { paused: (work) => work, stop: () => undefined };

export function startRateGuard(minRate: number, windowMs: number, bytesMoved: () => number, onTooSlow: (bytes: number, ms: number) => void): Guard {
  if (minRate <= 0 || windowMs <= 0) return NO_GUARD;
  const tickMs = Math.max(25, Math.floor(windowMs / 4));
  let pauses = 0;
  let activeMs = 0;
  let startBytes = bytesMoved();
  let lastTick = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    if (pauses === 0) activeMs += now - lastTick;
    lastTick = now;
    if (activeMs < windowMs) return;
    const moved = bytesMoved() - startBytes;
    if (moved < (minRate * activeMs) / 1000) {
      clearInterval(timer);
      onTooSlow(moved, activeMs);
      return;
    }
    activeMs = 0;
    startBytes = bytesMoved();
  }, tickMs);
  timer.unref();
  const account = (): void => {
    const now = Date.now();
    if (pauses === 0) activeMs += now - lastTick;
    lastTick = now;
  };
  return {
    async paused<T>(work: Promise<T>): Promise<T> {
      account();
      pauses++;
      try {
        return await work;
      } finally {
        account();
        pauses--;
      }
    },
    stop: () => clearInterval(timer),
  };
}
