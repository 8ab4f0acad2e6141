// `npm run setup`: make sure libtorch is present (installing Debian's when we may) and build the addon.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { buildAddon, findLibtorch } from './native.mjs';

const APT = ['libtorch-dev', 'libopenblas0-pthread'];

function canApt() {
  return process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
}

let torch = findLibtorch();
if (!torch) {
  if (!canApt()) {
    console.error(
      [
        'graft: no libtorch found. Do one of:',
        `  sudo apt-get update && sudo apt-get install -y ${APT.join(' ')}   # Debian/Ubuntu`,
        '  export GRAFT_LIBTORCH=/path/to/libtorch                          # an unpacked libtorch',
        '  pip install torch                                                # graft uses its libtorch',
        'then run: npm run setup',
      ].join('\n'),
    );
    process.exit(1);
  }
  console.log(`graft: installing ${APT.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...APT], { stdio: 'inherit', env });
  torch = findLibtorch();
  if (!torch) throw new Error('libtorch still not found after installing it');
}
if (torch.source === 'debian' && !existsSync('/usr/lib/x86_64-linux-gnu/openblas-pthread') && canApt()) {
  // without OpenBLAS Debian's libtorch falls back to the reference BLAS: matmuls 14x slower
  execFileSync('apt-get', ['install', '-y', '-qq', 'libopenblas0-pthread'], { stdio: 'inherit' });
}
await buildAddon(torch);
