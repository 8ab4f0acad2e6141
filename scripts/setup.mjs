// `npm run setup`: make sure libtorch (with a fast BLAS) and the demo's data are present, installing
// Debian's packages when we may, then build the addon. Idempotent; quick when all is there.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { buildAddon, findImageLibs, findLibtorch } from './native.mjs';

const FASHION = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz';
const canApt = () => process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
const hasOpenBlas = () =>
  readdirSync('/usr/lib').some((d) => existsSync(`/usr/lib/${d}/openblas-pthread`)) ||
  !existsSync('/usr/lib/x86_64-linux-gnu');

function aptInstall(pkgs) {
  console.log(`graft: installing ${pkgs.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
}

let torch = findLibtorch();
const want = [];
if (!torch) want.push('libtorch-dev');
// without OpenBLAS Debian's libtorch falls back to the reference BLAS: matmuls 14x slower
if ((!torch || torch.source === 'debian') && !hasOpenBlas()) want.push('libopenblas0-pthread');
// the demo's data set (Fashion-MNIST, MIT); tests that need it skip without it
if (!existsSync(FASHION)) want.push('dataset-fashion-mnist');

// libpng + libjpeg-turbo headers: PNG/JPEG decoded in the addon (else sharp decodes, slower per image)
const wantImage = findImageLibs() || process.env.GRAFT_NO_IMAGE === '1' ? [] : ['libpng-dev', 'libjpeg-dev'];
if (wantImage.length && !canApt())
  console.error(
    `graft: note: no libpng/libjpeg headers; images will decode with sharp. For the faster native path:\n  sudo apt-get install -y ${wantImage.join(' ')}   # then: npm run setup`,
  );

// Gloo's headers: native/dist.h then includes libtorch's own ProcessGroupGloo.hpp (else it declares
// the same class layout itself); optional, Debian's libtorch only
const wantGloo =
  (!torch || torch.source === 'debian') && !existsSync('/usr/include/gloo/context.h') ? ['libgloo-dev'] : [];

if ((want.length || wantImage.length) && canApt()) {
  aptInstall([...want, ...wantImage, ...wantGloo]);
  torch = findLibtorch();
} else if (wantGloo.length && canApt()) {
  try {
    aptInstall(wantGloo);
  } catch (e) {
    console.error(`graft: note: libgloo-dev did not install (${e.message}); the addon builds without it`);
  }
} else if (want.length) {
  const msg = [
    `graft: missing ${want.join(', ')}. Do one of:`,
    `  sudo apt-get update && sudo apt-get install -y ${want.join(' ')}   # Debian/Ubuntu`,
  ];
  if (!torch)
    msg.push(
      '  export GRAFT_LIBTORCH=/path/to/libtorch      # an unpacked libtorch',
      '  pip install torch                            # graft uses its libtorch',
    );
  console.error([...msg, 'then run: npm run setup'].join('\n'));
  if (!torch) process.exit(1);
}
if (!torch) throw new Error('libtorch still not found after installing it');
await buildAddon(torch);
