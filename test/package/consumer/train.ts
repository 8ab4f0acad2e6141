// A TypeScript consumer of the installed package, type-checked with `tsc --init`'s defaults and
// run as the JavaScript tsc emits: a small classifier trained two steps with graft's trainer API.
import { ArgumentError, crossEntropy, manualSeed, models, nn, optim, randn, type Tensor, tensor } from 'graft-tune';
import * as schedule from 'graft-tune/schedule';

manualSeed(0);
const net: nn.Module = new nn.Sequential(new nn.Linear(8, 16), new nn.ReLU(), new nn.Linear(16, 3));
const opt = new optim.AdamW(net.parameters(), { lr: 1e-2 });
const sched = new schedule.StepLR(opt, { step_size: 1, gamma: 0.5 });
const x: Tensor = randn([4, 8]);
const y = tensor([0, 1, 2, 1], { dtype: 'int64' });
const losses: number[] = [];
for (let step = 0; step < 2; step++) {
  opt.zeroGrad();
  const loss = crossEntropy(net.call(x), y);
  loss.backward();
  opt.step();
  sched.step();
  losses.push(loss.item());
}
// the package's types are real, not `any`: tsc must reject these lines (never run)
export function typeErrors(): string {
  // @ts-expect-error numClasses is a number
  models.create('cifar_net', { numClasses: 'two' });
  // @ts-expect-error a Module is not a string
  return models.create('cifar_net', { numClasses: 2 });
}
try {
  models.create('no_such_model');
} catch (e) {
  if (!(e instanceof Error)) throw e;
  losses.push(e instanceof ArgumentError ? -1 : -2);
}
console.log(JSON.stringify({ losses, lr: opt.paramGroups[0]?.lr, registry: models.list().length }));
