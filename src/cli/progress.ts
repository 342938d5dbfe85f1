/**
 * A progress bar for transfers of a few MB and more, on a terminal only
 * (cli-progress, on stderr so that stdout stays clean for scripts).
 */
import cliProgress from 'cli-progress';
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
  const bar = new cliProgress.SingleBar(
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
  bar.start(total, 0, { done: humanSize(0), size: humanSize(total), speed: '' });
  return {
    update(done) {
      const seconds = (Date.now() - started) / 1000;
      const speed = seconds > 0.2 ? `${humanSize(done / seconds)}/s` : '';
      bar.update(done, { done: humanSize(done), speed });
    },
    stop() {
      bar.stop();
    },
  };
}
