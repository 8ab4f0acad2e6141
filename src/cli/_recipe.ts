// Loading the recipe a command names, with --set overrides; recipe errors say which file.
import { existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RecipeError } from '../errors.ts';
import { bareMessage, type LoadedRecipe, loadRecipe } from '../recipe/index.ts';
import { UsageError } from './_args.ts';

export const isRunDir = (p: string): boolean =>
  existsSync(p) && statSync(p).isDirectory() && existsSync(join(p, 'recipe.yaml'));

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
