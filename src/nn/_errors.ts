// Errors from loading state dicts into modules; coded like src/errors.ts.
import { GraftError } from '../errors.ts';

export interface SizeMismatch {
  key: string;
  checkpoint: number[];
  model: number[];
}

/** loadStateDict found shape mismatches, or (strict) missing / unexpected keys. Nothing was copied. */
export class StateDictError extends GraftError {
  readonly missingKeys: string[];
  readonly unexpectedKeys: string[];
  readonly mismatches: SizeMismatch[];
  constructor(missingKeys: string[], unexpectedKeys: string[], mismatches: SizeMismatch[]) {
    const parts: string[] = [];
    for (const m of mismatches)
      parts.push(`size mismatch for ${m.key}: checkpoint [${m.checkpoint.join(', ')}], model [${m.model.join(', ')}]`);
    if (missingKeys.length) parts.push(`missing keys: ${list(missingKeys)}`);
    if (unexpectedKeys.length) parts.push(`unexpected keys: ${list(unexpectedKeys)}`);
    const hint = mismatches.length
      ? 'exclude the mismatched keys from the state dict, or replace the layer (e.g. resetClassifier) before loading'
      : 'pass { strict: false } to load the matching keys only, or remap the checkpoint keys';
    super('GRAFT_STATE_DICT', `error(s) loading state dict: ${parts.join('; ')}`, hint);
    this.missingKeys = missingKeys;
    this.unexpectedKeys = unexpectedKeys;
    this.mismatches = mismatches;
  }
}

function list(keys: string[]): string {
  const shown = keys.slice(0, 8).join(', ');
  return keys.length > 8 ? `${shown}, ... (${keys.length} in all)` : shown;
}
