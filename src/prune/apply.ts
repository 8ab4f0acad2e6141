// Reparametrization as torch.nn.utils.prune holds it: parameter `name` becomes parameter
// `name_orig` plus buffer `name_mask`, and a forward pre-hook sets the plain field
// `module[name] = name_orig * name_mask` before every call, so gradients reach name_orig only
// through the mask and pruned entries stay zero in what forward uses.
import { ArgumentError, ShapeError } from '../errors.ts';
import type { Module, Parameter } from '../nn/index.ts';
import { noGrad, onesLike, Tensor, tidy } from '../tensor/index.ts';
import { PruningContainer, type PruningMethod } from './methods.ts';

interface Pruned {
  method: PruningMethod;
  /** unregisters the forward pre-hook */
  off: () => void;
}

// module -> tensor name -> its pruning (PyTorch keeps the method object in _forward_pre_hooks)
const registry = new WeakMap<Module, Map<string, Pruned>>();

const fields = (m: Module): Record<string, unknown> => m as unknown as Record<string, unknown>;
const where = (m: Module, name: string): string => `${m.constructor.name}.${name}`;

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((s, i) => s === b.shape[i]);
}

/** The methods pruning `module` now, by tensor name (empty when none). */
export function pruningOf(module: Module): ReadonlyMap<string, PruningMethod> {
  return new Map([...(registry.get(module) ?? [])].map(([n, p]) => [n, p.method]));
}

/** True when any module in the tree has a pruned tensor (torch's prune.is_pruned). */
export function isPruned(module: Module): boolean {
  for (const m of module.modules()) if ((registry.get(m)?.size ?? 0) > 0) return true;
  return false;
}

function origOf(module: Module, name: string): Parameter {
  const p = module.getParameter(`${name}_orig`);
  if (!p) throw new ArgumentError(`${where(module, name)}_orig is gone: the pruning of '${name}' was tampered with`);
  return p;
}
function maskOf(module: Module, name: string): Tensor {
  for (const [n, b] of module.namedBuffers({ recurse: false })) if (n === `${name}_mask`) return b;
  throw new ArgumentError(`${where(module, name)}_mask is gone: the pruning of '${name}' was tampered with`);
}

/** name_orig * name_mask into the field forward reads; the previous product is freed (it is ours). */
function refresh(module: Module, name: string): void {
  const orig = origOf(module, name);
  const mask = maskOf(module, name);
  const old = fields(module)[name];
  const weight = tidy(() => mask.to(orig.dtype).mul(orig)).keep();
  fields(module)[name] = weight;
  if (old instanceof Tensor && old !== orig) old.dispose();
}

/**
 * Sets the pruned field to name_orig * name_mask now, as the forward pre-hook does before each call
 * (the field otherwise holds the product of the last forward, before any optimizer step since).
 * Nothing happens when `name` is not pruned.
 */
export function recompute(module: Module, name: string): void {
  if (registry.get(module)?.has(name)) refresh(module, name);
}

/** What the method scores when no importance scores are given: the tensor forward sees now. */
export function currentTensor(module: Module, name: string): Tensor {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    const at = typeof name === 'string' ? name.lastIndexOf('.') : -1;
    throw new ArgumentError(
      `prune: '${name}' is not a parameter name of ${module.constructor.name} itself`,
      at > 0
        ? `pass the submodule and the short name: (model.getSubmodule('${name.slice(0, at)}'), '${name.slice(at + 1)}')`
        : "pass the module and its parameter's name, e.g. (layer, 'weight')",
    );
  }
  const t = fields(module)[name];
  const p = module.getParameter(name);
  if (registry.get(module)?.has(name)) return t as Tensor;
  if (!p)
    throw new ArgumentError(
      `${module.constructor.name} has no parameter '${name}'`,
      `its parameters: ${[...module.namedParameters({ recurse: false })].map(([n]) => n).join(', ') || 'none'}`,
    );
  if (t !== p)
    throw new ArgumentError(
      `${module.constructor.name} keeps parameter '${name}' in no field of that name, so a pruned value cannot reach its forward`,
      'prune a module whose field and parameter share the name (Linear.weight, Conv2d.weight, ...)',
    );
  return p;
}

/** The mask in force for `name` (ones when it is not pruned yet), as a new tensor. */
export function maskInForce(module: Module, name: string): Tensor {
  return registry.get(module)?.has(name)
    ? maskOf(module, name).contiguous().clone()
    : onesLike(currentTensor(module, name));
}

/**
 * Prunes `module[name]` with `method` (torch's BasePruningMethod.apply): the first time it moves
 * the parameter to name_orig and adds name_mask and the hook; later it combines the new method
 * with the earlier ones in a PruningContainer. Nothing changes when the mask cannot be computed.
 */
export function applyPruning(
  module: Module,
  name: string,
  method: PruningMethod,
  importanceScores?: Tensor,
): PruningMethod {
  const current = currentTensor(module, name);
  if (importanceScores && !sameShape(importanceScores, current))
    throw new ShapeError(
      `importanceScores of shape [${importanceScores.shape}] must match ${where(module, name)} [${current.shape}]`,
    );
  const pruned = registry.get(module)?.get(name);
  const composite = pruned
    ? new PruningContainer([
        ...(pruned.method instanceof PruningContainer ? pruned.method.methods : [pruned.method]),
        method,
      ])
    : method;
  const mask = noGrad(() =>
    tidy(() => composite.computeMask((importanceScores ?? current).detach(), maskInForce(module, name))),
  ).keep();
  if (!pruned) {
    const param = current as Parameter;
    module.registerParameter(`${name}_orig`, param);
    module.deleteParameter(name);
  }
  module.registerBuffer(`${name}_mask`, mask);
  refresh(module, name);
  // as PyTorch, the hook of the newest (combined) method replaces the earlier one, at the end
  pruned?.off();
  const off = module.registerForwardPreHook((m) => {
    refresh(m, name);
    return undefined;
  });
  const own = registry.get(module) ?? new Map<string, Pruned>();
  registry.set(module, own);
  own.set(name, { method: composite, off });
  return composite;
}

/**
 * Makes the pruning permanent (torch's prune.remove): name_orig * name_mask becomes the plain
 * parameter `name` again (the same Parameter object, so optimizers keep it), and name_orig,
 * name_mask and the hook go away. Pruned entries stay zero but are trainable again.
 */
export function remove<M extends Module>(module: M, name: string): M {
  const pruned = registry.get(module)?.get(name);
  if (!pruned)
    throw new ArgumentError(
      `parameter '${name}' of ${module.constructor.name} has to be pruned before pruning can be removed`,
      `pruned here: ${[...(registry.get(module)?.keys() ?? [])].join(', ') || 'nothing'}`,
    );
  const orig = origOf(module, name);
  const mask = maskOf(module, name);
  noGrad(() => tidy(() => orig.mul_(mask.to(orig.dtype))));
  const computed = fields(module)[name] as Tensor | undefined;
  module.deleteParameter(`${name}_orig`);
  module.deleteBuffer(`${name}_mask`);
  module.registerParameter(name, orig);
  fields(module)[name] = orig;
  if (computed && computed !== orig) computed.dispose();
  pruned.off();
  registry.get(module)!.delete(name);
  return module;
}
