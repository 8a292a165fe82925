/** The report's stylesheet, inlined into the page (light and dark). */
export const REPORT_CSS = `
:root { --fg:#1d2430; --muted:#5b6677; --bg:#ffffff; --panel:#f6f8fb; --line:#dde3ea;
  --dense:#8d9bb0; --pruned:#e8590c; --kept:#1971c2; --removed:#d0d7e2; --attn:#1971c2; --mlp:#2f9e44; --emb:#adb5bd;
  --violin:#a5c8ef; --box:#1864ab; --threshold:#e03131; }
@media (prefers-color-scheme: dark) { :root { --fg:#e6e9ef; --muted:#9aa5b4; --bg:#14181f; --panel:#1c222b; --line:#2e3744;
  --removed:#36404e; --violin:#28466b; --box:#74c0fc; --dense:#6c7a8f; } }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color:var(--fg); background:var(--bg); }
main { max-width: 980px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; color: var(--muted); font-weight: 600; }
.subtitle { color: var(--muted); margin: 0 0 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .label { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.card .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .detail { font-size: 13px; color: var(--muted); }
.good { color: #2f9e44; } .bad { color: #e03131; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.pair figure { margin: 10px 0 6px; }
figure { margin: 10px 0 16px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 10px 4px; }
figcaption { font-size: 13px; color: var(--muted); padding: 0 6px 6px; }
.chart-svg { width: 100%; height: auto; display: block; }
.chart-svg text { fill: var(--fg); font-size: 11px; font-family: inherit; }
.chart-svg .axis-title, .chart-svg .y-tick, .chart-svg .x-tick { fill: var(--muted); }
.chart-svg .grid { stroke: var(--line); stroke-width: 1; }
.chart-svg .axis { stroke: var(--muted); stroke-width: 1; }
.chart-svg .bar-value { font-size: 10.5px; font-variant-numeric: tabular-nums; }
.chart-svg .bar-inner { fill: #fff; font-size: 11px; }
.dense { fill: var(--dense); } .pruned { fill: var(--pruned); }
.kept { fill: var(--kept); } .total { fill: var(--removed); }
.attn { fill: var(--attn); } .mlp { fill: var(--mlp); } .emb { fill: var(--emb); }
.violin { fill: var(--violin); stroke: none; }
.box { fill: var(--bg); stroke: var(--box); stroke-width: 1.4; }
.median { stroke: var(--box); stroke-width: 2.2; }
.whisker { stroke: var(--box); stroke-width: 1; }
.threshold { stroke: var(--threshold); stroke-width: 2; }
.threshold-key { fill: var(--threshold); }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; margin: 6px 0 12px; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; }
details { margin: 6px 0 14px; } summary { cursor: pointer; color: var(--muted); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 6px 0; }
dt { color: var(--muted); } dd { margin: 0; font-variant-numeric: tabular-nums; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; font-size: 12.5px; }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; }
`;
