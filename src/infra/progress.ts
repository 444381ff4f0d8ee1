import cliProgress from 'cli-progress';

/** Reports download progress: a live bar on a terminal, a line every 10% elsewhere (CI logs). */
export interface Progress {
  /** A line of its own, between bars. */
  say(line: string): void;
  /** Starts a byte-counting bar; `total` undefined when the size is not known. */
  bar(label: string, total: number | undefined): ProgressBar;
}

export interface ProgressBar {
  update(done: number): void;
  stop(): void;
}

const MB = 1024 * 1024;

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const say = (line: string): void => {
    stream.write(`${line}\n`);
  };
  if (stream.isTTY) {
    return {
      say,
      bar(label, total) {
        const bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${label} [{bar}] {percentage}% {doneMb}/{totalMb} MB eta {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        );
        const totalBytes = total ?? 0;
        bar.start(totalBytes, 0, { doneMb: '0.0', totalMb: (totalBytes / MB).toFixed(1) });
        return {
          update: (done) => {
            bar.update(done, { doneMb: (done / MB).toFixed(1) });
          },
          stop: () => {
            bar.stop();
          },
        };
      },
    };
  }
  return {
    say,
    bar(label, total) {
      let nextTenth = 1;
      say(`${label}: ${total === undefined ? 'size unknown' : `${(total / MB).toFixed(1)} MB`}`);
      return {
        update: (done) => {
          if (total === undefined || total === 0) return;
          while (done / total >= nextTenth / 10 && nextTenth <= 10) {
            say(`${label}: ${nextTenth * 10}% (${(done / MB).toFixed(1)} MB)`);
            nextTenth += 1;
          }
        },
        stop: () => undefined,
      };
    },
  };
}

/** A Progress that prints nothing (tests, `--quiet`). */
export const silentProgress: Progress = {
  say: () => undefined,
  bar: () => ({ update: () => undefined, stop: () => undefined }),
};
