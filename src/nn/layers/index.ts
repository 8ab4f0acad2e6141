export type { FactoryOptions, Pair } from './_util.ts';
export * from './activation.ts';
export * from './conv.ts';
export * from './embedding.ts';
export * from './linear.ts';
export * from './lora.ts';
export * from './norm.ts';
export * from './pooling.ts';
