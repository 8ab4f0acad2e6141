// Reads a JavaScript object literal (as minifiers print JSON-like data) without executing it.
// TF.js models shipped inside npm packages are often wrapped as `module.exports={...}` in .min.js
// files: unquoted keys, `.5` numbers, `!0`/`!1` booleans. Anything else is refused.

export class LiteralError extends Error {}

const MAX_DEPTH = 256;

export function parseJsLiteral(src: string, start = 0): { value: unknown; end: number } {
  let i = start;
  const fail = (why: string): never => {
    throw new LiteralError(`${why} at offset ${i}: ${JSON.stringify(src.slice(i, i + 24))}`);
  };
  const ws = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const value = (depth: number): unknown => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    const c = src[i];
    if (c === '{') return object(depth);
    if (c === '[') return array(depth);
    if (c === '"' || c === "'") return string();
    if (c === '!' && (src[i + 1] === '0' || src[i + 1] === '1')) {
      i += 2;
      return src[i - 1] === '0';
    }
    if (c === '-' || c === '+' || c === '.' || (c !== undefined && c >= '0' && c <= '9')) return number();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
      ['void 0', undefined],
    ] as const) {
      if (src.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail('unexpected token');
  };
  const number = (): number => {
    const m = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/.exec(src.slice(i, i + 40));
    if (!m) return fail('bad number');
    i += m[0].length;
    return Number(m[0]);
  };
  const string = (): string => {
    const q = src[i++];
    let out = '';
    while (i < src.length && src[i] !== q) {
      if (src[i] === '\\') {
        const e = src[i + 1];
        const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0' };
        if (e === 'u') {
          out += String.fromCharCode(Number.parseInt(src.slice(i + 2, i + 6), 16));
          i += 6;
        } else if (e === 'x') {
          out += String.fromCharCode(Number.parseInt(src.slice(i + 2, i + 4), 16));
          i += 4;
        } else {
          out += e !== undefined && e in simple ? simple[e] : (e ?? '');
          i += 2;
        }
      } else {
        // copy a run of plain characters at once: base64 weight strings are megabytes long
        let j = i;
        while (j < src.length && src[j] !== q && src[j] !== '\\') j++;
        out += src.slice(i, j);
        i = j;
      }
    }
    if (src[i] !== q) fail('unterminated string');
    i++;
    return out;
  };
  const key = (): string => {
    ws();
    const c = src[i];
    if (c === '"' || c === "'") return string();
    const m = /^[A-Za-z_$][\w$]*|^\d+/.exec(src.slice(i, i + 256));
    if (!m) return fail('bad key');
    i += m[0].length;
    return m[0];
  };
  const object = (depth: number): Record<string, unknown> => {
    i++;
    const out: Record<string, unknown> = Object.create(null);
    ws();
    if (src[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      const k = key();
      ws();
      if (src[i] !== ':') fail("expected ':'");
      i++;
      out[k] = value(depth + 1);
      ws();
      if (src[i] === ',') {
        i++;
        continue;
      }
      if (src[i] === '}') {
        i++;
        return out;
      }
      fail("expected ',' or '}'");
    }
  };
  const array = (depth: number): unknown[] => {
    i++;
    const out: unknown[] = [];
    ws();
    if (src[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(depth + 1));
      ws();
      if (src[i] === ',') {
        i++;
        continue;
      }
      if (src[i] === ']') {
        i++;
        return out;
      }
      fail("expected ',' or ']'");
    }
  };
  const v = value(0);
  return { value: v, end: i };
}

/** The literal assigned by the first `.exports=` in a CommonJS/UMD bundle. */
export function exportedLiteral(src: string): unknown {
  const m = /\.exports\s*=\s*(?=[{["'])/.exec(src);
  if (!m) throw new LiteralError('no `.exports = <literal>` found');
  return parseJsLiteral(src, m.index + m[0].length).value;
}
