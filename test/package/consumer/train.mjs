// A plain-JavaScript consumer of the installed package (no tsx, no TypeScript): builds an image
// folder, reads it with a data-loader worker thread, and fine-tunes a registry model two steps.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { crossEntropy, data, manualSeed, models, optim, tidy } from 'graft-tune';

// sharp comes with graft-tune (it decodes the images); resolved from graft-tune's own folder
const sharp = createRequire(createRequire(import.meta.url).resolve('graft-tune'))('sharp');
for (const [k, cls] of ['cat', 'dog'].entries()) {
  mkdirSync(`pets/${cls}`, { recursive: true });
  for (let i = 0; i < 5; i++) {
    const background = { r: 200 * k, g: 40 * i, b: 90 };
    await sharp({ create: { width: 40, height: 30, channels: 3, background } })
      .png()
      .toFile(`pets/${cls}/${i}.png`);
  }
}

manualSeed(0);
const net = models.create('cifar_net', { numClasses: 2 });
const opt = new optim.SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
const ds = data.imageFolder('pets', { transforms: data.evalTransforms(32) });
const losses = [];
for await (const b of new data.DataLoader(ds, { batchSize: 2, shuffle: true, seed: 0, workers: 1 })) {
  if (losses.length === 2) break;
  const loss = tidy(() => {
    opt.zeroGrad();
    const l = crossEntropy(net.call(b.x), b.y);
    l.backward();
    opt.step();
    return l.item();
  });
  losses.push(loss);
}
console.log(JSON.stringify({ losses, classes: ds.classes }));
