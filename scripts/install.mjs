// npm's install step for the package: builds the native addon (build/graft.node) against the
// libtorch it finds (scripts/native.mjs). It never fails the install: without libtorch, a compiler
// or a run of this script at all (npm 11 skips a dependency's install script that the project's
// package.json `allowScripts` denies, or any under --ignore-scripts), graft says what to do when
// first used and `npx graft setup` builds the addon then. GRAFT_SKIP_INSTALL_BUILD=1 skips the build.
import { ensureAddon, NO_LIBTORCH } from './native.mjs';

if (process.env.GRAFT_SKIP_INSTALL_BUILD === '1') process.exit(0);
try {
  const r = await ensureAddon();
  if (r.action === 'no-libtorch') console.warn(NO_LIBTORCH);
} catch (e) {
  console.warn(`graft: the native addon was not built: ${e.message}\nfix that, then run: npx graft setup`);
}
