// Child process for the kill test: writes one large checkpoint to argv[2] and says when it starts.
import { zeros } from '../../src/tensor/index.ts';
import { writeCheckpoint } from '../../src/train/index.ts';

const path = process.argv[2]!;
const big = zeros([64, 1024, 1024]); // 256 MiB: the write takes long enough to be killed in the middle
process.stdout.write('writing\n');
writeCheckpoint(path, {
  model: new Map([['w', big]]),
  optimizer: { state: {}, param_groups: [] },
  epoch: 9,
  batch: 0,
  step: 99,
});
process.stdout.write('done\n');
