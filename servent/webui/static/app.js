// servent's web UI: one page, five panels, live from GET /api/events.
// Every string from the network goes into the page as text, never as HTML.

const $ = (sel) => document.querySelector(sel);
let csrf = "";

// api calls the control API with the browser session and its CSRF token.
async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    location.href = "/ui/login";
    throw new Error("logged out");
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) throw new Error((data && data.error) || `${res.status} ${text}`);
  return data;
}

function say(msg, bad) {
  const p = $("#message");
  p.textContent = msg;
  p.classList.toggle("bad", !!bad);
  p.hidden = !msg;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.append(c); else td.textContent = c === undefined ? "" : String(c);
    tr.append(td);
  }
  return tr;
}

function button(label, onclick, cls) {
  const b = el("button", label, cls);
  b.addEventListener("click", onclick);
  return b;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function duration(s) {
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

// Tabs.
let tab = "status";
function show(name) {
  tab = name;
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== name;
  if (name === "shares") loadShares();
  if (name === "peers") loadHosts();
  if (name === "status") drawTraffic();
}
for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.tab));

// Status and the traffic chart.
const points = []; // {t, in, out, msgs} per second
let lastStatus = null;

function onStatus(st) {
  $("#st-mode").textContent = st.mode;
  $("#st-uptime").textContent = duration(st.uptime_seconds);
  $("#st-listen").textContent = st.listen;
  const r = st.reachability || {};
  $("#st-reach").textContent = `TCP ${r.tcp || "?"}, UDP ${r.udp || "?"}` + (r.external_addr ? `, seen as ${r.external_addr}` : "") + (r.reason ? `: ${r.reason}` : "");
  $("#st-advice").textContent = r.advice || "";
  $("#st-peers").textContent = `${st.peers} ultrapeer${st.peers === 1 ? "" : "s"}` + (st.leaves ? `, ${st.leaves} leaves` : "");
  $("#st-shared").textContent = `${st.shared_files} files, ${bytes(st.shared_kb * 1024)}` + (st.shared_hashed < st.shared_files ? ` (hashing: ${st.shared_hashed} of ${st.shared_files} done)` : "");
  $("#st-traffic").textContent = `in ${bytes(st.bytes_in)} (${st.msgs_in} messages), out ${bytes(st.bytes_out)} (${st.msgs_out} messages)`;
  const lim = st.limits || {};
  const one = (l) => !l ? "-" : `${bytes(l.rate_bytes_per_s)}/s` + (l.cap_bytes_per_s ? ` of ${bytes(l.cap_bytes_per_s)}/s` : "");
  $("#st-limits").textContent = `upload ${one(lim.upload)}, download ${one(lim.download)}, Gnutella in ${one(lim["gnet-in"])}, out ${one(lim["gnet-out"])}`;
  const dq = st.dynamic_queries || {};
  $("#st-dq").textContent = dq.started ? `${dq.started} started, ${dq.running} running, leaves asked ${dq.status_asked} times, answered ${dq.guidance}` : "none (a leaf's ultrapeers query for it)";
  $("#sh-summary").textContent = `${st.shared_files} files, ${bytes(st.shared_kb * 1024)}` + (st.shared_hashed < st.shared_files ? `, hashing ${st.shared_hashed} of ${st.shared_files}` : ", all hashed");
  if (lastStatus) {
    const dt = Math.max(1, st.uptime_seconds - lastStatus.uptime_seconds) || 1;
    points.push({
      in: Math.max(0, st.bytes_in - lastStatus.bytes_in) / dt,
      out: Math.max(0, st.bytes_out - lastStatus.bytes_out) / dt,
      msgs: Math.max(0, st.msgs_in + st.msgs_out - lastStatus.msgs_in - lastStatus.msgs_out) / dt,
    });
    if (points.length > 300) points.shift();
  }
  lastStatus = st;
  if (tab === "status") drawTraffic();
}

function drawTraffic() {
  const c = $("#traffic");
  const g = c.getContext("2d");
  const w = c.width, h = c.height, pad = 30;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#ccc";
  g.strokeRect(pad, 5, w - pad - 5, h - pad);
  const maxB = Math.max(1024, ...points.map((p) => Math.max(p.in, p.out)));
  const maxM = Math.max(10, ...points.map((p) => p.msgs));
  const x = (i) => pad + ((w - pad - 5) * i) / 299;
  const line = (key, max, color) => {
    g.strokeStyle = color;
    g.beginPath();
    points.forEach((p, i) => {
      const y = 5 + (h - pad) * (1 - p[key] / max);
      const xi = x(300 - points.length + i);
      if (i === 0) g.moveTo(xi, y); else g.lineTo(xi, y);
    });
    g.stroke();
  };
  line("in", maxB, "#1f77b4");
  line("out", maxB, "#d62728");
  line("msgs", maxM, "#2ca02c");
  g.fillStyle = "#555";
  g.font = "11px sans-serif";
  g.fillText(bytes(maxB) + "/s", pad + 4, 16);
  g.fillText(Math.round(maxM) + " msg/s", w - 90, 16);
  g.fillText("-5 min", pad, h - 10);
  g.fillText("now", w - 30, h - 10);
}

// "Check now" asks the peers for connect-backs, as `servent doctor` does.
$("#doctor").addEventListener("click", async (ev) => {
  ev.target.disabled = true;
  say("Asking the peers to connect back (up to 20 s)…");
  try {
    const r = await api("POST", "/api/reachability/check");
    say(`TCP ${r.tcp}, UDP ${r.udp}: ${r.reason}` + (r.advice ? ` What to do: ${r.advice}` : ""), r.tcp !== "reachable");
  } catch (e) { say(`Check: ${e.message}`, true); } finally { ev.target.disabled = false; }
});

// Search.
let search = null; // {id, shown, results: []}
let sortKey = "n", sortUp = true;

$("#search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const words = $("#search-words").value.trim();
  if (!words) return;
  try {
    showSearch(await api("POST", "/api/searches", { criteria: words }));
    say("");
  } catch (e) { say(`Search: ${e.message}`, true); }
});

// showSearch makes s (a search or a browse) the one the panel shows.
function showSearch(s) {
  search = { id: s.id, criteria: s.criteria, results: [] };
  $("#search-stop").hidden = false;
  $("#results tbody").replaceChildren();
  $("#search-info").textContent = `${s.criteria.startsWith("browse ") ? "" : "searching for "}"${s.criteria}"…`;
}

// Stop: no more results, and the ultrapeers stop querying for us.
$("#search-stop").addEventListener("click", async () => {
  if (!search) return;
  try {
    await api("DELETE", `/api/searches/${encodeURIComponent(search.id)}`);
    $("#search-stop").hidden = true;
    say(`Stopped the search for "${search.criteria}".`);
  } catch (e) { say(`Stop: ${e.message}`, true); }
});

async function onSearches(list) {
  if (!search) return;
  const s = list.find((x) => x.id === search.id);
  if (!s) return;
  const filtered = Object.entries(s.filtered || {}).map(([k, v]) => `${k} ${v}`).join(", ");
  $("#search-info").textContent = `"${s.criteria}": ${s.results} result${s.results === 1 ? "" : "s"}` + (filtered ? `; filtered out as spam or hostile: ${filtered}` : "") + (s.error ? `; ${s.error}` : "");
  if (s.results > search.results.length) {
    const after = search.results.length;
    const res = await api("GET", `/api/searches/${encodeURIComponent(search.id)}/results?after=${after}`);
    for (const r of res.results) if (r.n > search.results.length) search.results.push(r);
    renderResults();
  }
}

function renderResults() {
  const rs = [...search.results].sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return sortUp ? c : -c;
  });
  $("#results tbody").replaceChildren(...rs.map((r) => row([
    r.n, r.name, bytes(r.size), r.sources, r.urn,
    button("Download", async (ev) => {
      ev.target.disabled = true;
      try {
        await api("POST", "/api/downloads", { search_id: search.id, result: r.n });
        say(`Downloading ${r.name}: see Downloads.`);
      } catch (e) { say(`Download: ${e.message}`, true); ev.target.disabled = false; }
    }, "dl"),
    // The files of the host that has it (by push when it is firewalled).
    button("Browse host", async (ev) => {
      ev.target.disabled = true;
      try {
        showSearch(await api("POST", "/api/browse", { search_id: search.id, result: r.n }));
        say(`Browsing the host of ${r.name}.`);
      } catch (e) { say(`Browse: ${e.message}`, true); ev.target.disabled = false; }
    }, "bh"),
  ])));
}

for (const th of document.querySelectorAll("#results th[data-sort]")) {
  th.addEventListener("click", () => {
    const k = th.dataset.sort;
    sortUp = k === sortKey ? !sortUp : true;
    sortKey = k;
    if (search) renderResults();
  });
}

// Downloads.
function onDownloads(list) {
  $("#dl-empty").hidden = list.length > 0;
  $("#dl-list").replaceChildren(...list.map((d) => {
    const box = el("div", null, "download");
    box.dataset.state = d.state;
    const head = el("div", null, "dl-head");
    head.append(el("strong", d.name), el("span", ` ${d.state}` + (d.queue_position && !d.active_sources ? ` (queued #${d.queue_position})` : ""), "muted"));
    const bar = el("div", null, "bar");
    const fill = el("div", null, "fill");
    const pct = d.size > 0 ? Math.min(100, (100 * d.done) / d.size) : 0;
    fill.style.width = `${pct.toFixed(1)}%`;
    bar.append(fill);
    const facts = el("div", `${pct.toFixed(1)}% of ${bytes(d.size)}` +
      (d.rate_bytes_per_s ? `, ${bytes(d.rate_bytes_per_s)}/s` : "") +
      `, ${d.active_sources} of ${d.sources} sources active` +
      (d.path ? `, saved as ${d.path}` : "") + (d.error ? `: ${d.error}` : ""), "muted");
    const map = el("div", null, "chunks");
    const srcs = d.chunk_sources || [];
    for (const ch of d.chunk_map || "") {
      const cell = el("span", null, "cell");
      if (ch === ".") cell.classList.add("c-none");
      else if (ch === ">") cell.classList.add("c-busy");
      else if (ch === "+") cell.classList.add("c-part");
      else {
        const i = ch === "#" ? 26 : ch.charCodeAt(0) - 97;
        cell.style.background = `hsl(${(i * 47) % 360} 60% 45%)`;
        cell.title = srcs[i] ? `from ${srcs[i]}` : "done";
      }
      map.append(cell);
    }
    box.append(head, bar, facts, map);
    if (!["complete", "gone", "failed"].includes(d.state)) {
      box.append(button("Cancel", async () => {
        try { await api("DELETE", `/api/downloads/${encodeURIComponent(d.id)}`); } catch (e) { say(`Cancel: ${e.message}`, true); }
      }));
    }
    return box;
  }));
}

// Shares.
async function loadShares() {
  try {
    const fs = await api("GET", "/api/shares");
    $("#share-list tbody").replaceChildren(...fs.map((f) => row([f.name, bytes(f.size), f.urn || "hashing…"])));
  } catch (e) { say(`Shares: ${e.message}`, true); }
}
$("#rescan").addEventListener("click", async () => {
  try { await api("POST", "/api/shares/rescan"); await loadShares(); say("Rescanned the shared folder."); } catch (e) { say(`Rescan: ${e.message}`, true); }
});

// Peers and the host cache.
function onPeers(list) {
  $("#peer-list tbody").replaceChildren(...list.map((p) => row([
    p.addr, p.mode, [p.outbound ? "outbound" : "inbound", p.family, p.tls ? "tls" : ""].filter(Boolean).join(" "), p.state, p.state === "connected" ? duration(p.uptime_seconds) : "",
    bytes(p.bytes_in), bytes(p.bytes_out), p.user_agent + (p.last_error ? ` (${p.last_error})` : ""),
    button("Drop", async () => {
      try { await api("DELETE", `/api/peers/${encodeURIComponent(p.addr)}`); } catch (e) { say(`Drop: ${e.message}`, true); }
    }),
  ])));
}
$("#peer-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const addr = $("#peer-addr").value.trim();
  try { await api("POST", "/api/peers", { addr }); $("#peer-addr").value = ""; say(`Connecting to ${addr}…`); } catch (e) { say(`Connect: ${e.message}`, true); }
});
async function loadHosts() {
  try {
    const hs = await api("GET", "/api/hosts");
    $("#host-list tbody").replaceChildren(...hs.map((h) => row([h.addr, h.ultrapeer ? "yes" : "no", new Date(h.last_seen).toLocaleString(), h.failures])));
  } catch (e) { say(`Host cache: ${e.message}`, true); }
}
$("#hosts-refresh").addEventListener("click", loadHosts);

$("#logout").addEventListener("click", async () => {
  try { await fetch("/ui/logout", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" }); } finally { location.href = "/ui/login"; }
});

// The event stream.
async function start() {
  const s = await api("GET", "/api/session");
  csrf = s.csrf;
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { $("#conn").textContent = "live"; });
  es.addEventListener("error", () => { $("#conn").textContent = "reconnecting…"; });
  es.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
  es.addEventListener("peers", (e) => onPeers(JSON.parse(e.data)));
  es.addEventListener("downloads", (e) => onDownloads(JSON.parse(e.data)));
  es.addEventListener("searches", (e) => onSearches(JSON.parse(e.data)).catch((err) => say(`Search: ${err.message}`, true)));
}
start().catch((e) => say(`Cannot reach the servent: ${e.message}`, true));
