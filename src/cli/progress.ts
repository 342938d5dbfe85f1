/**
 * A progress bar for transfers of a few MB and more, on a terminal only
 * (cli-progress, on stderr so that stdout stays clean for scripts). The
 * bar's module is loaded only when a bar is shown, so sessions that never
 * show one, and scripts, never load it.
 */
import type { SingleBar } from 'cli-progress';
import { humanSize } from './format.js';

export const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

const NONE: Progress = { update: () => undefined, stop: () => undefined };

export function createProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || total < PROGRESS_MIN_BYTES) return NONE;
  const started = Date.now();
  let bar: SingleBar | undefined;
  let done = 0;
  let stopped = false;
  const speed = (): string => {
    const seconds = (Date.now() - started) / 1000;
    return seconds > 0.2 ? `${humanSize(done / seconds)}/s` : '';
  };
  // Updates that come while the module loads are kept in `done`.
  void import('cli-progress')
    .then(({ default: cliProgress }) => {
      if (stopped) return;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `${label} {bar} {percentage}% | {done} / {size} | {speed}`,
          barsize: 30,
          hideCursor: true,
          clearOnComplete: true,
          fps: 10,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, done, { done: humanSize(done), size: humanSize(total), speed: speed() });
    })
    .catch(() => undefined); // no bar is no reason to fail a transfer
  return {
    update(bytes) {
      done = bytes;
      bar?.update(done, { done: humanSize(done), speed: speed() });
    },
    stop() {
      stopped = true;
      bar?.stop();
    },
  };
}
