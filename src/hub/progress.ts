// Download progress on stderr. On a terminal: one line redrawn in place (at most ten times a
// second) and erased at the end; elsewhere (logs, CI): a line when a download starts and one when
// it ends, so logs stay short.
import { progressDisabled } from './env.ts';

export interface Progress {
  /** bytes written so far (including a resumed part) */
  update(done: number): void;
  end(ok: boolean): void;
}

export const formatBytes = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;

const SILENT: Progress = { update() {}, end() {} };

/** A progress display for one file; `enabled` false (or HF_HUB_DISABLE_PROGRESS_BARS=1) shows nothing. */
export function progress(label: string, total: number | undefined, from: number, enabled = true): Progress {
  if (!enabled || progressDisabled()) return SILENT;
  const out = process.stderr;
  const started = Date.now();
  const of = total ? ` of ${formatBytes(total)}` : '';
  const tty = out.isTTY === true;
  if (!tty) out.write(`graft: downloading ${label}${of}${from ? ` (resuming at ${formatBytes(from)})` : ''}\n`);
  let last = 0;
  let done = from;
  const draw = () => {
    const pct = total ? `${Math.min(100, Math.floor((done / total) * 100))}% ` : '';
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? ` ${formatBytes((done - from) / secs)}/s` : '';
    const line = `${label} ${pct}${formatBytes(done)}${of}${rate}`;
    out.write(`\r${line.slice(0, (out.columns || 80) - 1)}\x1b[K`);
  };
  return {
    update(n) {
      done = n;
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw();
    },
    end(ok) {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (tty) out.write('\r\x1b[K');
      if (ok) out.write(`graft: downloaded ${label} (${formatBytes(done)} in ${secs} s)\n`);
    },
  };
}
