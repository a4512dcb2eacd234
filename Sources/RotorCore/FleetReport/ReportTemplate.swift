/// The report page's Mustache template, its style sheet and its script: constants of the
/// program, so the page needs nothing from the network or the disk. Values go in with
/// `{{name}}` only (HTML-escaped); the style and script are literal text whose hashes the
/// page's Content-Security-Policy names, so nothing else can run or be fetched.
enum ReportTemplate {
    static let style = """
        :root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--panel:#f6f8fa;\
        --ok:#1a7f37;--near:#9a6700;--bad:#cf222e;--bad-bg:#ffebe9;--warn-bg:#fff8c5;--bar:#e6e9ed}
        @media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--panel:#151b23;\
        --ok:#3fb950;--near:#d29922;--bad:#f85149;--bad-bg:#3c1618;--warn-bg:#3a2e12;--bar:#262c36}}
        *{box-sizing:border-box}
        body{margin:0 auto;max-width:2200px;padding:1rem 1.5rem 3rem;background:var(--bg);color:var(--fg);\
        font:clamp(14px,0.55vw + 10px,22px)/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
        h1{font-size:1.6em;margin:.4em 0 .1em}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
        .meta,.note{color:var(--muted)}
        code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
        .tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(11em,1fr));gap:.75em;margin:1em 0}
        .tile{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:.6em .9em}
        .tile .n{display:block;font-size:2em;font-weight:700}
        .tile.bad{border-color:var(--bad);background:var(--bad-bg)}.tile.bad .n{color:var(--bad)}
        .tile.good .n{color:var(--ok)}
        table{border-collapse:collapse;width:100%;margin:.4em 0}
        th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid var(--line);vertical-align:top}
        td{overflow-wrap:anywhere;white-space:pre-wrap}th{font-weight:600;color:var(--muted);white-space:nowrap}
        tr.overdue td{background:var(--bad-bg)}tr.breakglass td{background:var(--warn-bg)}
        .badge{display:inline-block;padding:0 .45em;border-radius:1em;font-size:.85em;font-weight:600;border:1px solid currentColor}
        .ok{color:var(--ok)}.near,.warn{color:var(--near)}.bad,.over,.drift{color:var(--bad)}
        svg.bar{vertical-align:middle;margin-right:.4em}
        svg.bar .track{fill:var(--bar)}svg.bar .ok{fill:var(--ok)}svg.bar .near{fill:var(--near)}svg.bar .over{fill:var(--bad)}
        details{border:1px solid var(--line);border-radius:8px;margin:.6em 0;background:var(--panel)}
        details>summary{cursor:pointer;padding:.5em .8em;font-weight:600}
        details>div{padding:0 .8em .6em;background:var(--bg);border-radius:0 0 8px 8px}
        details.overdue{border-color:var(--bad)}
        dl.generation{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.6em 0}dl.generation dt{color:var(--muted)}
        #filter{font:inherit;padding:.35em .6em;width:min(30em,100%);margin:.5em 0;border:1px solid var(--line);border-radius:6px;\
        background:var(--bg);color:var(--fg)}
        svg.graph{max-width:100%;height:auto;background:var(--panel);border:1px solid var(--line);border-radius:8px}
        svg.graph rect.node{fill:var(--bg);stroke:var(--line)}svg.graph rect.node.overdue,svg.graph rect.node.drift{stroke:var(--bad);stroke-width:2}
        svg.graph text{fill:var(--fg);font-size:13px}svg.graph line.edge{stroke:var(--muted);stroke-width:1.2}
        svg.graph line.edge.drift{stroke:var(--bad);stroke-width:2;stroke-dasharray:5 3}
        .audit-bad{border:2px solid var(--bad);background:var(--bad-bg);border-radius:8px;padding:.6em .9em}
        [hidden]{display:none !important}
        @media print{#filter{display:none}body{max-width:none}details{break-inside:avoid}}
        """

    /// Shows the filter box (the page reads fine without it), filters keys, consumers and
    /// runs as one types (also from `#filter=TEXT` in the address), and opens every section
    /// before printing.
    static let script = """
        (function(){
        var box=document.getElementById('filter');box.hidden=false;
        var items=document.querySelectorAll('[data-filter]');
        var rows=document.querySelectorAll('tr.key-row'),count=document.getElementById('filter-count');
        function apply(text){var q=text.trim().toLowerCase(),shown=0;
        for(var i=0;i<items.length;i++){items[i].hidden=q!==''&&items[i].getAttribute('data-filter').indexOf(q)<0;}
        for(var j=0;j<rows.length;j++){if(!rows[j].hidden){shown++;}}
        count.textContent=q===''?'':shown+' of '+rows.length+' keys match'+(shown===0?' (the filter is "'+visible(q)+'")':'');}
        function visible(text){return text.replace(/[\\u0000-\\u001f\\u007f-\\u00a0\\u00ad\\u034f\\u061c\\u115f\\u1160\\u1680\\u17b4\\u17b5\\u180e\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u2800\\u3000\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0]/g,
        function(c){return '\\\\u{'+c.charCodeAt(0).toString(16).toUpperCase()+'}';});}
        box.addEventListener('input',function(){apply(box.value);
        try{history.replaceState(null,'',box.value?'#filter='+encodeURIComponent(box.value):location.pathname);}catch(e){}});
        var m=/^#filter=(.*)$/.exec(location.hash);
        if(m){try{box.value=decodeURIComponent(m[1]);}catch(e){box.value=m[1];}apply(box.value);}
        function openTarget(){var t=location.hash.length>1&&document.getElementById(location.hash.slice(1));if(t&&t.tagName==='DETAILS'){t.open=true;}}
        openTarget();window.addEventListener('hashchange',openTarget);
        window.addEventListener('beforeprint',function(){var d=document.querySelectorAll('details');for(var i=0;i<d.length;i++){d[i].open=true;}});
        })();
        """

    static let page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="{{contentSecurityPolicy}}">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <meta name="generator" content="rotor {{version}}">
        <title>{{title}}</title>
        <style>\(style)</style>
        </head>
        <body>
        <header>
        <h1>rotor fleet report</h1>
        <p class="meta">Generated {{generatedAt}} by rotor {{version}}. Fingerprints and ids only: this page holds no secret.</p>
        <p class="meta" id="sources">{{sources}}</p>
        </header>
        <main>
        <section id="summary" aria-label="Summary">
        {{#summary}}
        <div class="tiles">
        <div class="tile"><span class="n" id="summary-keys">{{keys}}</span>keys</div>
        <div class="tile{{#anyOverdue}} bad{{/anyOverdue}}{{^anyOverdue}} good{{/anyOverdue}}"><span class="n" id="summary-overdue">{{overdue}}</span>overdue</div>
        <div class="tile{{#anyDrifted}} bad{{/anyDrifted}}{{^anyDrifted}} good{{/anyDrifted}}"><span class="n" id="summary-drifted">{{drifted}}</span>targets not in sync</div>
        <div class="tile"><span class="n" id="summary-pending">{{pendingDeletions}}</span>pending deletions</div>
        {{/summary}}
        {{#audit}}
        <div class="tile{{^intact}} bad{{/intact}}{{#intact}} good{{/intact}}"><span class="n" id="summary-audit">{{#intact}}intact{{/intact}}{{^intact}}BROKEN{{/intact}}</span>audit chain, {{entriesText}}</div>
        {{/audit}}
        </div>
        {{#unfinishedRuns}}<p id="summary-unfinished" class="audit-bad">{{.}}</p>{{/unfinishedRuns}}
        </section>

        <section id="keys" aria-label="Keys">
        <h2>Keys</h2>
        <input type="search" id="filter" placeholder="Filter keys, providers and consumers" aria-label="Filter" hidden> <span id="filter-count" class="note" aria-live="polite"></span>
        {{#noKeys}}<p class="note">No key is configured.</p>{{/noKeys}}
        {{^noKeys}}
        <table>
        <thead><tr><th>Key</th><th>Provider</th><th>Age against its limit</th><th>Every</th><th>Next due</th><th>Window</th><th>Last run</th><th>Targets in sync</th></tr></thead>
        <tbody>
        {{#keys}}
        <tr class="key-row{{#overdue}} overdue{{/overdue}}" data-key="{{name}}" data-filter="{{filterText}}">
        <td><a href="#{{anchor}}">{{name}}</a>{{#overdue}} <span class="badge bad">OVERDUE</span>{{/overdue}}</td>
        <td>{{provider}}</td>
        <td>{{#bar}}<svg class="bar" width="160" height="12" viewBox="0 0 160 12" role="img" aria-label="{{percent}}% of its limit"><rect class="track" width="160" height="12" rx="3"/><rect class="{{level}}" width="{{filled}}" height="12" rx="3"/></svg>{{/bar}}<span class="{{#overdue}}bad{{/overdue}}">{{age}}</span>{{#overdueBy}} <span class="bad">({{.}})</span>{{/overdueBy}}{{#bar}} <span class="note">({{percent}}%)</span>{{/bar}}</td>
        <td>{{every}}</td>
        <td>{{nextDue}}</td>
        <td>{{window}}</td>
        <td>{{#lastRun}}<code>{{.}}</code> {{/lastRun}}{{#lastOutcome}}<span class="badge {{lastOutcomeClass}}">{{.}}</span>{{/lastOutcome}}{{^lastRun}}<span class="note">none</span>{{/lastRun}}</td>
        <td class="{{#allInSync}}ok{{/allInSync}}{{^allInSync}}drift{{/allInSync}}">{{inSync}} / {{targetCount}}</td>
        </tr>
        {{/keys}}
        </tbody>
        </table>
        {{/noKeys}}
        </section>

        <section id="consumers" aria-label="Consumers and targets">
        <h2>Consumers and targets</h2>
        {{#keys}}
        <details id="{{anchor}}" class="key{{#overdue}} overdue{{/overdue}}" data-key="{{name}}" data-filter="{{filterText}}"{{#open}} open{{/open}}>
        <summary>{{name}} — {{inSync}} of {{targetCount}} targets in sync{{#overdue}} · <span class="bad">overdue</span>{{/overdue}}{{#pendingDeletion}} · old generation pending deletion{{/pendingDeletion}}</summary>
        <div>
        <dl class="generation">
        {{#current}}<dt>current</dt><dd><code>{{id}}</code> <code>{{fingerprint}}</code>, created {{created}}</dd>{{/current}}
        {{#neverRotated}}<dt>current</dt><dd>never rotated by rotor</dd>{{/neverRotated}}
        {{#pendingDeletion}}<dt>pending deletion</dt><dd><code>{{id}}</code> <code>{{fingerprint}}</code>{{#deleteAfter}}, deleted after {{.}}{{/deleteAfter}}{{#graceEnded}} — its grace is over: the next <code>rotor run</code> deletes it{{/graceEnded}}</dd>{{/pendingDeletion}}
        <dt>policy</dt><dd>{{policy}}</dd>
        </dl>
        {{#noTargets}}<p class="note">No consumer uses this key.</p>{{/noTargets}}
        {{^noTargets}}
        <table>
        <thead><tr><th>Consumer</th><th>Target</th><th>Type</th><th>State</th><th>Holds</th></tr></thead>
        <tbody>
        {{#targets}}
        <tr class="target" data-state="{{state}}"><td>{{consumer}}</td><td><code>{{target}}</code></td><td>{{type}}</td><td class="{{stateClass}}">{{state}}{{#reason}} <span class="note">({{.}})</span>{{/reason}}</td><td>{{#fingerprint}}<code>{{.}}</code>{{/fingerprint}}</td></tr>
        {{/targets}}
        </tbody>
        </table>
        {{/noTargets}}
        </div>
        </details>
        {{/keys}}
        </section>

        <section id="graph" aria-label="Keys and their consumers">
        <h2>Keys → consumers</h2>
        {{#graph}}
        <p class="note">{{summary}}</p>
        <svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{{width}}" height="{{height}}" viewBox="0 0 {{width}} {{height}}" role="img" aria-label="{{summary}}">
        {{#edges}}<line class="{{edgeClass}}" x1="{{x1}}" y1="{{y1}}" x2="{{x2}}" y2="{{y2}}"/>
        {{/edges}}
        {{#keyNodes}}<g><title>{{fullName}}</title><rect class="{{nodeClass}}" x="{{x}}" y="{{y}}" width="282" height="22" rx="4"/><text x="{{x}}" dx="8" y="{{textY}}">{{label}}</text></g>
        {{/keyNodes}}
        {{#consumerNodes}}<g><title>{{fullName}}</title><rect class="{{nodeClass}}" x="{{x}}" y="{{y}}" width="282" height="22" rx="4"/><text x="{{x}}" dx="8" y="{{textY}}">{{label}}</text></g>
        {{/consumerNodes}}
        </svg>
        {{/graph}}
        {{#graphOmitted}}<p class="note">{{.}}</p>{{/graphOmitted}}
        </section>

        <section id="runs" aria-label="Recent runs">
        <h2>Recent runs</h2>
        {{#runsNote}}<p class="note" id="runs-note">{{.}}</p>{{/runsNote}}
        {{#runs}}
        <details class="run{{#breakGlass}} breakglass{{/breakGlass}}" data-filter="{{filterText}}">
        <summary><code>{{id}}</code> {{key}} · {{started}} · <span class="badge {{outcomeClass}}">{{outcome}}</span>{{#breakGlass}} <span class="badge bad">BREAK-GLASS</span>{{/breakGlass}} · {{who}}</summary>
        <div>
        <p class="note">started {{started}}, finished {{finished}}, {{stepCount}} journal entries</p>
        <table>
        <thead><tr><th>At</th><th>Step</th><th>Phase</th><th>Consumer: target</th><th>Detail</th></tr></thead>
        <tbody>
        {{#steps}}<tr><td>{{at}}</td><td>{{step}}</td><td class="{{phaseClass}}">{{phase}}</td><td>{{place}}</td><td>{{detail}}</td></tr>
        {{/steps}}
        </tbody>
        </table>
        </div>
        </details>
        {{/runs}}
        </section>

        <section id="audit" aria-label="Audit log">
        <h2>Audit log</h2>
        {{#audit}}
        {{#intact}}<p id="audit-state" class="ok">{{#empty}}The audit log is empty.{{/empty}}{{^empty}}Hash chain verified: {{entriesText}}, intact.{{/empty}}</p>{{/intact}}
        {{^intact}}<p id="audit-state" class="audit-bad"><strong>Audit log BROKEN:</strong> {{problem}}</p>{{/intact}}
        {{#head}}<p>Chain head (<code>sequence:hash</code>; keep a copy, and check the log against it later with <code>rotor history --verify --head</code>): <code id="audit-head">{{.}}</code></p>{{/head}}
        <h3>Break-glass entries</h3>
        {{^hasBreakGlass}}<p class="note">None.</p>{{/hasBreakGlass}}
        {{#hasBreakGlass}}
        <table>
        <thead><tr><th>At</th><th>Key</th><th>Action</th><th>Outcome</th><th>Who</th><th>Run</th></tr></thead>
        <tbody>
        {{#breakGlass}}<tr class="breakglass"><td>{{at}}</td><td>{{key}}</td><td>{{action}}</td><td>{{outcome}}</td><td>{{who}}</td><td><code>{{run}}</code></td></tr>
        {{/breakGlass}}
        </tbody>
        </table>
        {{/hasBreakGlass}}
        {{/audit}}
        </section>

        {{#hasWarnings}}
        <section id="warnings" aria-label="Warnings">
        <h2>Warnings</h2>
        <details class="warnings"{{#warningsOpen}} open{{/warningsOpen}}>
        <summary>{{warningCount}}</summary>
        <div>
        <ul>
        {{#warnings}}<li>{{.}}</li>
        {{/warnings}}
        </ul>
        </div>
        </details>
        </section>
        {{/hasWarnings}}
        </main>
        <script>\(script)</script>
        </body>
        </html>

        """
}
