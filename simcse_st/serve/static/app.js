// simcse-st serve: the page's three views (search, similarity, map) over the JSON API. No build step.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  // matplotlib's tab10, as in the PNG maps of `simcse-st plot`
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  const state = { hits: [], dims: 2, maps: {}, mapShown: false };
  const KEY = "simcse-st-api-key"; // the server's API key (--api-key), asked once, kept for this tab's session
  let asking = null; // the pending prompt for the key, shared by the calls that were refused meanwhile

  function request(path, body) {
    const headers = body === undefined ? {} : { "Content-Type": "application/json" };
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = "Bearer " + key;
    const options = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
    return fetch(path, options);
  }

  function askForKey() {
    asking = asking || Promise.resolve().then(() => {
      const key = window.prompt("This server needs its API key (simcse-st serve --api-key):");
      if (key) sessionStorage.setItem(KEY, key.trim());
      asking = null;
      return Boolean(key);
    });
    return asking;
  }

  async function api(path, body) {
    let response = await request(path, body);
    if (response.status === 401 && await askForKey()) response = await request(path, body);
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  // plotly renders hover text and legend names as HTML-like markup: corpus text must be escaped to show as text
  // (no tag can open once < is escaped, so quotes need none)
  const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
  function escapeHtml(text) { return text.replace(/[&<>]/g, (c) => ENTITIES[c]); }

  function debounce(fn, ms) {
    let timer;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  function setStatus(id, text, isError) {
    const el = $(id);
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  // --- views -------------------------------------------------------------------------------------------
  function show(view) {
    document.querySelectorAll("nav button").forEach((tab) => {
      const selected = tab.dataset.view === view;
      tab.setAttribute("aria-selected", String(selected));
      $("view-" + tab.dataset.view).hidden = !selected;
    });
    if (view === "map") drawMap();
  }
  document.querySelectorAll("nav button").forEach((tab) => tab.addEventListener("click", () => show(tab.dataset.view)));

  // --- search ------------------------------------------------------------------------------------------
  let searchCount = 0;
  // the hit list declares what it shows: data-state="settled" and data-query, the query its hits answer (tests
  // and scripts wait for that instead of for a moment); "loading" while a newer query is on its way
  function settleHits(query, hits) {
    state.hits = hits;
    renderHits(hits);
    $("hits").dataset.query = query;
    $("hits").dataset.state = "settled";
  }

  async function search() {
    const query = $("query").value;
    const mine = ++searchCount;
    $("hits").dataset.state = "loading";
    if (!query.trim()) {
      settleHits(query, []);
      setStatus("search-status", "");
      return;
    }
    try {
      const started = performance.now();
      const answer = await api("/api/search", { queries: [query], top_k: Number($("top-k").value) });
      if (mine !== searchCount) return; // a newer query is on its way
      settleHits(query, answer.results[0]);
      setStatus("search-status", `${state.hits.length} hits in ${Math.round(performance.now() - started)} ms`);
      if (state.mapShown) drawMap();
    } catch (error) {
      if (mine !== searchCount) return;
      settleHits(query, []);
      setStatus("search-status", error.message, true);
    }
  }

  function renderHits(hits) {
    $("hits").replaceChildren(...hits.map((hit) => {
      const li = document.createElement("li");
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = hit.score.toFixed(3);
      const sentence = document.createElement("span");
      sentence.className = "sentence";
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = hit.sentence;
      const position = document.createElement("span");
      position.className = "position";
      position.textContent = "#" + hit.position;
      position.title = "position in the corpus";
      sentence.append(text, position);
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = Math.max(0, hit.score) * 100 + "%";
      bar.append(fill);
      li.append(score, sentence, bar);
      return li;
    }));
  }

  $("query").addEventListener("input", debounce(search, 200));
  $("top-k").addEventListener("change", search);
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); search(); });

  // --- similarity --------------------------------------------------------------------------------------
  async function compare() {
    const pair = [$("first").value, $("second").value];
    if (!pair[0].trim() || !pair[1].trim()) return;
    try {
      const score = (await api("/api/similarity", { pairs: [pair] })).scores[0];
      $("cosine").textContent = score.toFixed(3);
      $("cosine-bar").style.width = Math.max(0, score) * 100 + "%";
      $("similarity-result").hidden = false;
      setStatus("similarity-status", "");
    } catch (error) {
      setStatus("similarity-status", error.message, true);
    }
  }
  $("similarity-form").addEventListener("submit", (event) => { event.preventDefault(); compare(); });
  $("first").addEventListener("input", debounce(compare, 300));
  $("second").addEventListener("input", debounce(compare, 300));

  // --- map ---------------------------------------------------------------------------------------------
  function shorten(text, n) { return text.length > n ? text.slice(0, n - 1) + "\u2026" : text; }
  // escaped first, then cut into lines of about 60 characters at spaces (the <br> being the only markup)
  function wrap(text) { return escapeHtml(text).replace(/(.{1,60})(\s|$)/g, "$1<br>"); }

  function mapTraces(data, dims, narrow) {
    const type = dims === 3 ? "scatter3d" : "scatter";
    const size = dims === 3 ? 4 : (data.points.length > 2000 ? 5 : 10);
    const coordinates = (points) => {
      const xyz = { x: points.map((p) => p.x), y: points.map((p) => p.y) };
      if (dims === 3) xyz.z = points.map((p) => p.z);
      return xyz;
    };
    const traces = data.clusters.map((cluster) => {
      const points = data.points.filter((p) => p.cluster === cluster.id);
      return {
        type, mode: "markers", ...coordinates(points),
        name: `${cluster.id}: ${escapeHtml(shorten(cluster.summary, narrow ? 34 : 48))} (${cluster.size})`,
        text: points.map((p) => wrap(p.sentence)), customdata: points.map((p) => p.position),
        hovertemplate: "%{text}<extra>#%{customdata}</extra>",
        marker: { size, color: COLOURS[cluster.id % COLOURS.length], opacity: state.hits.length ? 0.6 : 0.9 },
      };
    });
    if (state.hits.length) {
      const byPosition = new Map(data.points.map((p) => [p.position, p]));
      const hits = state.hits.map((hit) => byPosition.get(hit.position)).filter(Boolean);
      traces.push({
        type, mode: "markers", ...coordinates(hits), name: "search hits", uid: "hits",
        text: hits.map((p) => wrap(p.sentence)), hovertemplate: "%{text}<extra>hit</extra>",
        marker: { size: dims === 3 ? 7 : 16, color: "#111", line: { width: 2 },
          symbol: dims === 3 ? "diamond-open" : "circle-open" },
      });
    }
    return traces;
  }

  // the map declares what it shows as the hit list does: data-state="settled", data-dims and data-hits (how many
  // search hits are circled); "loading" while it is computed or redrawn, "error" when it cannot be drawn
  function mapFailed(message) {
    setStatus("map-status", message, true);
    $("map").dataset.state = "error";
  }

  async function drawMap() {
    const dims = state.dims;
    state.mapShown = true;
    $("map").dataset.state = "loading";
    if (typeof Plotly === "undefined") {
      mapFailed("The map needs plotly: pip install simcse-st[serve]");
      return;
    }
    if (!state.maps[dims]) {
      setStatus("map-status", `Computing the ${dims}-D map of the corpus\u2026`);
      try {
        state.maps[dims] = await api("/api/map?dims=" + dims);
      } catch (error) {
        mapFailed(error.message);
        return;
      }
      if (dims !== state.dims) return;
    }
    const data = state.maps[dims];
    const narrow = $("map").clientWidth < 700;
    const axis = { showticklabels: false, zeroline: false, showgrid: dims === 3, title: { text: "" } };
    const layout = {
      margin: { l: 8, r: 8, t: 8, b: 8 }, hovermode: "closest", font: { size: narrow ? 10 : 12 },
      legend: narrow ? { orientation: "h", y: -0.02, yanchor: "top" } : { x: 1.01, y: 0.93, itemsizing: "constant" },
      xaxis: axis, yaxis: axis, scene: { xaxis: axis, yaxis: axis, zaxis: axis },
    };
    const traces = mapTraces(data, dims, narrow);
    // the hits on the map (a map of a sample of a large corpus may not hold them all)
    const circled = state.hits.length ? traces[traces.length - 1].x.length : 0;
    await Plotly.react("map", traces, layout, { responsive: true, displaylogo: false });
    if (dims !== state.dims) return; // the other dimension was asked for meanwhile
    const hits = circled ? `, ${circled} search hits circled` : "";
    setStatus("map-status", `${data.points.length} sentences in ${data.clusters.length} clusters${hits}`);
    Object.assign($("map").dataset, { state: "settled", dims: String(dims), hits: String(circled) });
  }

  document.querySelectorAll(".toggle button").forEach((button) => button.addEventListener("click", () => {
    state.dims = Number(button.dataset.dims);
    document.querySelectorAll(".toggle button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    drawMap();
  }));

  // --- header ------------------------------------------------------------------------------------------
  api("/healthz").then((health) => {
    const model = health.model.split("/").filter(Boolean).slice(-2).join("/");
    $("about").textContent = `${health.sentences.toLocaleString()} sentences \u00b7 ${model}`;
    $("about").title = health.model;
  }).catch((error) => setStatus("about", error.message, true));
})();
