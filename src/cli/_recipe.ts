// Loading the recipe a command names, with --set overrides; recipe errors say which file.
import { existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';
import { RecipeError } from '../errors.ts';
import { bareMessage, type LoadedRecipe, loadRecipe, readRunRecord, recipeFrom } from '../recipe/index.ts';
import { resolveResume } from '../train/index.ts';
import { UsageError } from './_args.ts';

/** A run folder: holds recipe.yaml, or at least a checkpoint (which keeps a copy of the recipe). */
export const isRunDir = (p: string): boolean =>
  existsSync(p) &&
  statSync(p).isDirectory() &&
  (existsSync(join(p, 'recipe.yaml')) || existsSync(join(p, 'checkpoints', 'last.pth')));

/**
 * The recipe of the run a --resume names, with --set overrides: RUN/recipe.yaml, else the copy
 * inside the checkpoint (a .pth, or RUN/checkpoints/last.pth).
 */
export function loadRunRecipe(run: string, set: readonly string[]): LoadedRecipe {
  const yaml = join(run, 'recipe.yaml');
  if (!run.endsWith('.pth') && existsSync(yaml)) return loadFor(yaml, set);
  const checkpoint = resolveResume(run);
  const text = readRunRecord(checkpoint).record.recipe;
  if (!text)
    throw new UsageError(`${run} keeps no recipe (no recipe.yaml, and the checkpoint has none): give the RECIPE too`);
  return recipeFrom(YAML.parse(text), { set });
}

/** loadRecipe with the file named in errors: `recipes/x.yaml: optimizer.lr: expected ...`. */
export function loadFor(file: string, set: readonly string[] = []): LoadedRecipe {
  if (!existsSync(file)) throw new UsageError(`no such recipe file: ${file}`);
  if (statSync(file).isDirectory()) {
    if (isRunDir(file)) return loadFor(join(file, 'recipe.yaml'), set);
    throw new UsageError(`${file} is a folder, not a recipe (a run folder holds recipe.yaml)`);
  }
  try {
    return loadRecipe(file, { set });
  } catch (e) {
    if (e instanceof RecipeError && !e.path.includes(file) && !e.path.startsWith('/')) {
      const r = relative(process.cwd(), file);
      const rel = r && !r.startsWith('..') ? r : file;
      throw new RecipeError(`${rel}: ${e.path}`, bareMessage(e).slice(e.path.length + 2), e.hint);
    }
    throw e;
  }
}
