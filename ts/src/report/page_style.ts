/** The page's stylesheet: plain, readable, printable. */
export const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1500px; padding: 12px 20px; color: #222; }
h1 { font-size: 20px; margin: 4px 0; }
h2 { font-size: 16px; margin: 22px 0 6px; border-bottom: 1px solid #ddd; }
h3 { font-size: 13px; margin: 0; display: inline; }
.status { color: #666; font-size: 12px; }
.status .error { color: #b00; }
.muted { color: #888; }
.control { margin-right: 18px; font-size: 13px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 10px; }
.chart { border: 1px solid #e4e4e4; border-radius: 4px; padding: 6px 8px; min-width: 0; }
.chart-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px; }
.chart-head .key { color: #888; font-weight: normal; margin-left: 6px; }
.chart-head .note { color: #888; font-size: 12px; flex-basis: 100%; }
.exports { margin-left: auto; }
.exports button { font-size: 11px; padding: 1px 6px; margin-left: 4px; cursor: pointer; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #e4e4e4; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.group-row td { background: #fafafa; font-weight: 600; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.table { overflow-x: auto; }
table.samples td.text { max-width: 700px; }
table.samples tr.gated td { color: #999; }
pre { white-space: pre-wrap; margin: 2px 0 6px; font-size: 12px; }
.label { color: #888; font-size: 11px; }
.u-legend { font-size: 11px; }
`;
