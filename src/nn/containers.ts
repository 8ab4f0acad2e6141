// Sequential, ModuleList, ModuleDict: children named as in PyTorch ('0', '1', ... or the dict keys).
import { ArgumentError } from '../errors.ts';
import { Module } from './module.ts';

/** Children '0', '1', ...; forward feeds each child's output to the next. */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    for (const [i, m] of modules.entries()) this.registerModule(String(i), m);
  }
  get length(): number {
    return this.childEntries().length;
  }
  /** The i-th child (negative counts from the end). */
  at<M extends Module = Module>(i: number): M {
    const all = this.childEntries().map(([, m]) => m);
    const m = all[i < 0 ? all.length + i : i];
    if (!m) throw new ArgumentError(`Sequential index ${i} out of range (length ${all.length})`);
    return m as M;
  }
  append(m: Module): this {
    this.registerModule(String(this.length), m);
    return this;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.childEntries()
      .map(([, m]) => m)
      [Symbol.iterator]();
  }
  forward(x: any): any {
    for (const [, m] of this.childEntries()) x = m.call(x);
    return x;
  }
}

/** A list of modules with integer names; no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  constructor(modules: M[] = []) {
    super();
    for (const [i, m] of modules.entries()) this.registerModule(String(i), m);
  }
  get length(): number {
    return this.childEntries().length;
  }
  at(i: number): M {
    const all = this.childEntries().map(([, m]) => m as M);
    const m = all[i < 0 ? all.length + i : i];
    if (!m) throw new ArgumentError(`ModuleList index ${i} out of range (length ${all.length})`);
    return m;
  }
  append(m: M): this {
    this.registerModule(String(this.length), m);
    return this;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.childEntries()
      .map(([, m]) => m as M)
      [Symbol.iterator]();
  }
  forward(): never {
    throw new ArgumentError('ModuleList has no forward(); iterate over its modules');
  }
}

/** Modules by name, in insertion order; no forward of its own. */
export class ModuleDict<M extends Module = Module> extends Module {
  constructor(modules: Record<string, M> | [string, M][] = {}) {
    super();
    for (const [k, m] of Array.isArray(modules) ? modules : Object.entries(modules)) this.registerModule(k, m);
  }
  get(key: string): M {
    return this.getSubmodule(key) as M;
  }
  set(key: string, m: M): void {
    this.registerModule(key, m);
  }
  has(key: string): boolean {
    for (const [k] of this.namedChildren()) if (k === key) return true;
    return false;
  }
  keys(): string[] {
    return Array.from(this.namedChildren(), ([k]) => k);
  }
  entries(): [string, M][] {
    return [...this.namedChildren()] as [string, M][];
  }
  forward(): never {
    throw new ArgumentError('ModuleDict has no forward(); look modules up by key');
  }
}
