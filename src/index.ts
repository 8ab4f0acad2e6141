// graft's public API: everything a user imports comes from here.

export * as board from './board/index.ts';
export * as data from './data/index.ts';
export * as dist from './dist/index.ts';
export * from './errors.ts';
export * as exporting from './export/index.ts';
export * as finetune from './finetune/index.ts';
export * as hub from './hub/index.ts';
export * as io from './io/index.ts';
export * as models from './models/index.ts';
export * as nn from './nn/index.ts';
export * as optim from './optim/index.ts';
export * as prune from './prune/index.ts';
export * as quant from './quant/index.ts';
export * as recipe from './recipe/index.ts';
export * as report from './report/index.ts';
export * as schedule from './schedule/index.ts';
export * from './tensor/index.ts';
export * as track from './track/index.ts';
export * as train from './train/index.ts';
