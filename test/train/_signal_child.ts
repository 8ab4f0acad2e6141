// Child process for the signal test: trains on in-memory data (no I/O to wait on) and stops when
// SIGINT arrives; prints the step the handler saw and the step the run ended at.
import { Trainer } from '../../src/train/index.ts';
import { setup } from './_helpers.ts';

const accumulate = Number(process.argv[2] ?? 1);
const s = setup(1, { n: 48, batchSize: 4 });
let said = false;
const trainer = new Trainer({
  ...s,
  valid: undefined,
  accumulate,
  callbacks: [
    {
      afterBatch: (t) => {
        if (!said && t.step >= 3) {
          said = true;
          process.stdout.write('ready\n');
        }
      },
    },
  ],
});
let atSignal: number | undefined;
process.on('SIGINT', () => {
  atSignal ??= trainer.step;
  trainer.requestStop('SIGINT');
});
await trainer.fit(400);
process.stdout.write(
  `${JSON.stringify({ atSignal, final: trainer.step, stopReason: trainer.stopReason, total: 400 * Math.ceil(12 / accumulate) })}\n`,
);
