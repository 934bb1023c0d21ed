package opspage

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// page is the HTML form of a snapshot. html/template escapes every value
// for where it stands (text, attribute, URL), so a key holding markup is
// shown as text; the page has no script, and its Content-Security-Policy
// allows none.
var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"ago": func(t, now time.Time) string {
		return roundDur(now.Sub(t)) + " ago"
	},
	"left": func(s float64) string { return roundDur(time.Duration(s * float64(time.Second))) },
	"num":  func(n any) string { return group(n) },
	"inc":  func(i int) int { return i + 1 },
	"count": func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	},
}).Parse(pageHTML))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tollgate: {{.Status}}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#1d2330}p.err{color:#a61b1b}</style></head>
<body><h1>{{.Status}} {{.Text}}</h1><p class="err" id="error">{{.Msg}}</p><p><a href="">Back to the page</a></p></body></html>
`))

func (p *Page) writeHTML(w http.ResponseWriter, status int, s snapshot) {
	var buf bytes.Buffer
	if err := page.Execute(&buf, s); err != nil {
		http.Error(w, "opspage: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (p *Page) writeError(w http.ResponseWriter, status int, msg string) {
	var buf bytes.Buffer
	_ = errorPage.Execute(&buf, struct {
		Status    int
		Text, Msg string
	}{status, http.StatusText(status), msg})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// roundDur prints d to the second, or to the minute beyond an hour.
func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// group prints an integer with thin spaces between thousands.
func group(n any) string {
	var s string
	switch v := n.(type) {
	case int:
		s = strconv.Itoa(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case uint64:
		s = strconv.FormatUint(v, 10)
	default:
		return "?"
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, "\u2009"...)
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tollgate · operator's page</title>
<style>
:root{--ink:#1d2330;--dim:#5d6678;--line:#dde1e8;--bg:#f6f7f9;--ok:#1c7c3c;--bad:#a61b1b;--warn:#9a5b00;--accent:#2b59c3}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--bg);margin:0}
header{background:#1d2330;color:#fff;padding:.9rem 1.5rem;display:flex;align-items:baseline;gap:1rem;flex-wrap:wrap}
header h1{font-size:1.15rem;margin:0;font-weight:600}
header .at{color:#b8c0cf;font-size:.85rem}
.badge{display:inline-block;border-radius:999px;padding:.05rem .6rem;font-size:.78rem;font-weight:600}
.badge.ro{background:#3a4254;color:#dfe4ee}.badge.rw{background:#f3c969;color:#1d2330}
main{padding:1rem 1.5rem 2rem;max-width:1200px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;margin:0 0 1rem;padding:.8rem 1rem}
h2{font-size:1rem;margin:.1rem 0 .6rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .55rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.78rem;text-transform:uppercase;letter-spacing:.03em;color:var(--dim);font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.key{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
.key{word-break:break-all}
.dim{color:var(--dim)}.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.note{background:#e7f4ea;border:1px solid #b9dfc3;border-radius:6px;padding:.5rem .8rem;margin:0 0 1rem}
.empty{color:var(--dim);font-style:italic}
form.inline{display:inline;margin:0}
button{font:inherit;font-size:.8rem;padding:.15rem .6rem;border:1px solid var(--accent);background:#fff;color:var(--accent);border-radius:4px;cursor:pointer}
button:hover{background:var(--accent);color:#fff}
.forms{display:flex;gap:2rem;flex-wrap:wrap}
.forms form{display:flex;gap:.4rem;align-items:center;flex-wrap:wrap}
input,select{font:inherit;font-size:.85rem;padding:.15rem .3rem}
p.meta{margin:.2rem 0 .6rem;color:var(--dim)}
</style>
</head>
<body>
<header>
<h1>tollgate · operator's page</h1>
<span class="at">{{stamp .At}}</span>
{{if .Writable}}<span class="badge rw" id="mode">operator: resets allowed</span>{{else}}<span class="badge ro" id="mode">read-only</span>{{end}}
</header>
<main>
{{with .Done}}<p class="note" id="done">{{.}}</p>{{end}}

<section>
<h2>Policies in force</h2>
{{if .Policies}}
<table id="policies">
<thead><tr><th>Policy</th><th>Rule</th><th>Limit</th><th>Algorithm</th><th>Key</th><th>Tiers</th><th>On store failure</th><th>Mode</th></tr></thead>
<tbody>
{{range .Policies}}<tr>
<td><code>{{.Name}}</code></td>
<td>{{if .Rule}}<code>{{.Rule}}</code>{{else}}<span class="dim">Go</span>{{end}}</td>
<td>{{if .Concurrent}}{{.Concurrent}} in flight{{else}}<code>{{.Quota}}</code>{{end}}</td>
<td>{{if .Concurrent}}<span class="dim">concurrency</span>{{else}}{{.Algorithm}}{{end}}</td>
<td>{{with .Key}}<code>{{.}}</code>{{else}}<span class="dim">—</span>{{end}}</td>
<td>{{if .Tiers}}{{range $name, $lim := .Tiers}}<code>{{$name}}</code> {{$lim}}<br>{{end}}<span class="dim">by <code>{{.TierKey}}</code>, default {{.DefaultTier}}</span>{{else}}<span class="dim">—</span>{{end}}</td>
<td>{{with .OnFailure}}{{.}}{{else}}<span class="dim">—</span>{{end}}</td>
<td>{{if .Shadow}}<span class="warn">shadow</span>{{else}}enforced{{end}}</td>
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="empty">No policies are shown.</p>{{end}}
</section>

{{with .Rules}}
<section>
<h2>Rules</h2>
{{with .Reload}}<p class="meta" id="reload">File <code>{{.Path}}</code>, last read {{stamp .At}}:
{{if .OK}}<span class="ok">loaded</span>, {{count .Rules "rule" "rules"}} in force{{else}}<span class="bad">refused</span>, the {{count .Rules "rule" "rules"}} before it still in force: <code>{{.Error}}</code>{{end}}</p>{{end}}
<p class="meta">Mode: {{if eq .Mode "all"}}every matching rule applies{{else}}the first matching rule applies{{end}} ·
allow list: {{count .Allow.CIDRs "range" "ranges"}}, {{count .Allow.Values "key" "keys"}} · deny list: {{count .Deny.CIDRs "range" "ranges"}}, {{count .Deny.Values "key" "keys"}}</p>
<table id="rules">
<thead><tr><th>Rule</th><th>Matches</th><th>Limits</th><th>Penalty box</th><th>Missing key</th><th>Mode</th></tr></thead>
<tbody>
{{range .Rules}}<tr>
<td><code>{{.Name}}</code></td>
<td>{{.Match}}</td>
<td>{{range $i, $l := .Limits}}{{if $i}}, {{end}}<code>{{$l}}</code>{{else}}<span class="dim">—</span>{{end}}</td>
<td>{{with .Penalty}}{{.}}{{else}}<span class="dim">—</span>{{end}}</td>
<td>{{with .Missing}}{{.}}{{else}}<span class="dim">—</span>{{end}}</td>
<td>{{if .Skip}}<span class="dim">skip</span>{{else if .Shadow}}<span class="warn">shadow</span>{{else}}enforced{{end}}</td>
</tr>
{{end}}</tbody>
</table>
</section>
{{end}}

<section>
<h2>Stores</h2>
{{if .Stores}}
<table id="stores">
<thead><tr><th>Store</th><th>Kind</th><th>Keys</th><th>Evicted</th><th>Refused</th><th>Breaker</th><th>Fallback</th><th>Batches</th><th>Leases</th></tr></thead>
<tbody>
{{$at := .At}}
{{range .Stores}}<tr>
<td><code>{{.Name}}</code></td>
{{with .Figures}}
<td>{{.Kind}}, {{.Mode}}</td>
{{if eq .Kind "memory"}}<td class="n">{{num .Keys}}</td>
<td class="n">{{num .Evicted}}</td>
<td class="n">{{if .Refused}}<span class="bad">{{num .Refused}}</span>{{else}}0{{end}}</td>{{else}}<td class="n dim">—</td><td class="n dim">—</td><td class="n dim">—</td>{{end}}
<td>{{if not .Breaker}}<span class="dim">none</span>{{else if .BreakerOpen}}<span class="bad">open</span>{{else}}<span class="ok">closed</span>{{end}}{{if .BreakerOpened}} <span class="dim">(opened {{num .BreakerOpened}}×)</span>{{end}}</td>
{{else}}<td colspan="5" class="dim">reports no figures</td>{{end}}
<td>{{with .Fallback}}{{if .Active}}<span class="bad">deciding on the fallback</span> ({{count .Failing "limiter" "limiters"}}){{with .Since}} since {{ago . $at}}{{end}}{{with .LastError}}<br><code class="dim">{{.}}</code>{{end}}{{else}}<span class="ok">no</span>{{if .Switches}} <span class="dim">({{num .Switches}} switches, last {{with .Since}}{{ago . $at}}{{end}})</span>{{end}}{{end}}{{end}}</td>
{{with .Figures}}
<td class="n">{{if .Batches}}{{num .Batches}} <span class="dim">({{num .BatchedCalls}} calls)</span>{{else}}<span class="dim">—</span>{{end}}</td>
<td>{{if eq .Mode "leased"}}{{num .LeaseHot}} hot keys, {{num .LeaseGrants}} grants of {{num .LeaseGranted}} tokens, {{num .LeaseGivenBack}} given back{{else}}<span class="dim">—</span>{{end}}</td>
{{else}}<td></td><td></td>{{end}}
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="empty">No stores are shown.</p>{{end}}
</section>

<section>
<h2>Clients denied most</h2>
<p class="meta">{{num .Denied.Total}} denials counted in {{.Denied.Counters}} counters (Space-Saving): a count is never below the client's true count, and at most its overcount above it.{{if not .RawKeys}} Keys are shown as a keyed hash.{{end}}</p>
{{if .Denied.Top}}
<table id="denied">
<thead><tr><th>#</th><th>Client</th><th>Policy</th><th>Denials</th><th>Overcount</th><th>Last denied</th>{{if .Writable}}<th></th>{{end}}</tr></thead>
<tbody>
{{$w := .Writable}}{{$at := .At}}
{{range $i, $c := .Denied.Top}}<tr>
<td class="n dim">{{inc $i}}</td>
<td class="key">{{$c.Key}}</td>
<td><code>{{$c.Policy}}</code></td>
<td class="n">{{num $c.Count}}</td>
<td class="n dim">{{if $c.Overcount}}≤ {{num $c.Overcount}}{{else}}0{{end}}</td>
<td>{{ago $c.Last $at}}</td>
{{if $w}}<td>{{if $c.CanReset}}<form class="inline reset" method="post"><input type="hidden" name="action" value="reset"><input type="hidden" name="policy" value="{{$c.Policy}}"><input type="hidden" name="hash" value="{{$c.Hash}}"><button type="submit">Reset quota</button></form>{{end}}</td>{{end}}
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="empty">No client has been denied.</p>{{end}}
</section>

<section>
<h2>Penalty box</h2>
{{if .Boxed}}
<table id="boxed">
<thead><tr><th>Client</th><th>Rule</th><th>Policy</th><th>Boxed until</th><th>Left</th>{{if .Writable}}<th></th>{{end}}</tr></thead>
<tbody>
{{$w := .Writable}}
{{range .Boxed}}<tr>
<td class="key">{{.Key}}</td>
<td>{{with .Rule}}<code>{{.}}</code>{{else}}<span class="dim">—</span>{{end}}</td>
<td><code>{{.Policy}}</code></td>
<td>{{stamp .Until}}</td>
<td class="n">{{left .LeftSeconds}}</td>
{{if $w}}<td>{{if .Releasable}}<form class="inline release" method="post"><input type="hidden" name="action" value="release"><input type="hidden" name="rule" value="{{.Rule}}"><input type="hidden" name="hash" value="{{.Hash}}"><button type="submit">Release</button></form>{{end}}</td>{{end}}
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="empty">No client is in a penalty box.</p>{{end}}
</section>

{{if .Writable}}
<section>
<h2>Change by key</h2>
<p class="meta">For a client not listed above: its key as the policy reads it (the client's address for an <code>ip</code> key).</p>
<div class="forms">
{{if .ResetPolicies}}<form class="by-key reset" method="post"><input type="hidden" name="action" value="reset">
<label>Reset the quota of <input name="key" size="24" required></label>
<label>under <select name="policy">{{range .ResetPolicies}}<option>{{.}}</option>{{end}}</select></label>
<button type="submit">Reset</button></form>{{end}}
{{if .BoxRules}}<form class="by-key release" method="post"><input type="hidden" name="action" value="release">
<label>Release <input name="key" size="24" required></label>
<label>from the box of <select name="rule">{{range .BoxRules}}<option>{{.}}</option>{{end}}</select></label>
<button type="submit">Release</button></form>{{end}}
</div>
</section>
{{end}}
</main>
</body>
</html>
`
