// The addon's builder, scripts/native.mjs, seen from the CLI (`graft setup`, `graft doctor`). It is
// plain JavaScript that ships beside src/ and dist/ (npm's install step runs it too), so it is
// imported by a URL built at run time, two folders up from src/cli/ as from dist/cli/.

export interface Libtorch {
  source: string;
  dir: string;
  includes: string[];
  libDir: string;
  libs: string[];
  abi: number;
}

export interface NativeTools {
  root: string;
  addonPath: string;
  buildDir: string;
  /** GRAFT_LIBTORCH, then Python's torch, then Debian's /usr; throws on a bad GRAFT_LIBTORCH */
  findLibtorch(): Libtorch | null;
  libtorchVersion(torch: Libtorch): string | undefined;
  ensureAddon(o?: {
    log?: (line: string) => void;
  }): Promise<{ action: 'copied' | 'built' | 'up-to-date' | 'no-libtorch'; torch?: Libtorch }>;
  NO_LIBTORCH: string;
}

export async function nativeTools(): Promise<NativeTools> {
  const url = new URL('../../scripts/native.mjs', import.meta.url);
  return (await import(url.href)) as NativeTools;
}
