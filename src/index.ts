// graft's public API: everything a user imports comes from here.
export * from './errors.ts';
export * from './tensor/index.ts';
