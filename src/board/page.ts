// The board's page and style sheet, served as strings (no build step, no network: the page loads
// /board.css and /board.js from the board itself).
import { esc } from '../report/markup.ts';

export function boardPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>graft board: ${esc(title)}</title>
<link rel="stylesheet" href="/board.css">
<link rel="icon" href="data:,">
</head>
<body>
<header>
  <h1>graft board <span class="muted">${esc(title)}</span></h1>
  <span id="conn" class="conn">connecting…</span>
</header>
<main>
  <section>
    <p class="muted">Tick runs to see their curves; tick two or more to overlay them and diff their recipes.</p>
    <table id="runs">
      <thead><tr><th></th><th>run</th><th>status</th><th>model</th><th>phase</th><th>epoch</th><th>step</th><th>loss</th><th>latest</th><th>updated</th><th>report</th></tr></thead>
      <tbody><tr><td colspan="11" class="muted">loading…</td></tr></tbody>
    </table>
  </section>
  <section id="view" hidden>
    <div id="warnings"></div>
    <label class="controls">metric <select id="metric"></select></label>
    <div id="charts" class="charts"></div>
    <div id="table"></div>
    <div id="diff"></div>
  </section>
</main>
<script src="/board.js"></script>
</body>
</html>
`;
}

export const BOARD_CSS = `
:root { --fg: #1b1f24; --muted: #667; --line: #dde1e6; --bg: #fff; --warn: #9a5b00; --warnbg: #fff6e5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; justify-content: space-between; padding: 10px 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 18px 0 6px; }
main { padding: 6px 20px 40px; }
.muted { color: var(--muted); font-weight: normal; }
.conn { font-size: 12px; color: var(--muted); }
.conn.live { color: #1a7f37; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; font-size: 12px; color: var(--muted); }
#runs tbody tr:hover { background: #f6f8fa; }
#runs td.run { font-family: ui-monospace, monospace; }
.status { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; color: #fff; }
.status-running { background: #0969da; }
.status-finished { background: #1a7f37; }
.status-failed { background: #cf222e; }
.status-interrupted { background: #9a6700; }
.status-unknown { background: #8c959f; }
.badge-warn { color: var(--warn); font-size: 12px; margin-left: 6px; }
.warn { background: var(--warnbg); color: var(--warn); border: 1px solid #f0d8a8; padding: 6px 10px; margin: 8px 0; border-radius: 4px; }
.controls { display: inline-block; margin: 10px 0 4px; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figure.chart figcaption { font-weight: 600; font-size: 13px; }
figure.chart svg text { font-size: 10px; fill: #555; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; }
.legend span { white-space: nowrap; }
.legend svg { vertical-align: middle; margin-right: 4px; }
#diff td.differs { background: #fff8c5; }
#diff td.absent { color: var(--muted); font-style: italic; }
#diff td.key { font-family: ui-monospace, monospace; }
td.value { font-family: ui-monospace, monospace; max-width: 28em; overflow-wrap: anywhere; }
`;
