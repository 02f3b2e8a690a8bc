// sarcube viewer: search bursts (STAC), show a product as tiles over a base map, step through
// its dates, click for a time series, draw an area for its statistics or a download.
//
// Plain ES module, no framework. MapLibre GL is loaded before this module as a classic script
// (static/vendor/maplibre-gl.js, copied there by build.sh) and used as window.maplibregl.
// Every URL is relative to the page, which the API serves at its root: viewer/config.json,
// stac/..., tiles/..., point, zonal, ard/... Errors of the API ({code, detail}, or
// {code, description} from the STAC API) go to the status line, never to the console.
// What a layer shows (title, units, range, colours, dB factor) comes from its TileJSON, so a
// new product needs no change here. The view, product, dates and options live in the URL's
// hash (a permalink), read back on load.

const maplibregl = window.maplibregl;

const SLC_COLLECTION = "sentinel-1-slc-bursts";
const SEARCH_LIMIT = 50;
const TMS = "WebMercatorQuad";
// products the picker leaves out: the CSLC is complex, with no single-band rendering to look at
const HIDDEN_PRODUCTS = new Set(["cslc"]);
const DEFAULT_PRODUCT = "backscatter";
const GRAY = [[0, 0, 0], [255, 255, 255]];

// t in [0, 1] → [r, g, b] along evenly spaced colour stops, linearly interpolated
function colormap(stops) {
  return (t) => {
    const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
    const i = Math.min(Math.floor(x), stops.length - 2);
    const f = x - i;
    return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
  };
}

// -- state ------------------------------------------------------------------------------------
const state = {
  collections: new Map(), // product name → STAC collection (sarcube:pair says pair or not)
  items: [],              // features of the last search (SLC bursts)
  burstId: null,
  date: null,             // datetime of the selected (reference) date, as the items give it
  secondary: null,        // datetime of the secondary date (pair products)
  product: null,
  legend: null,           // what the layer shows, from its tilejson: {product, title, units, min, max, stops, dbFactor, view}
  options: "",            // the product's options as typed: "k=v k2=v2"
  drawing: false,         // clicks add corners to the area
  area: [],               // the area's corners [[lon, lat], ...]; closed when areaClosed
  areaClosed: false,
  restoring: null,        // the permalink being restored (read once at start)
  layerGeneration: 0,     // ignores the answer of an older tilejson request
  pointGeneration: 0,
  lastPoint: null,
};

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("date-start"), end: $("date-end"), search: $("search-button"),
  summary: $("search-summary"), results: $("results"), selection: $("selection"),
  product: $("product"), date: $("date"), dateCaption: $("date-caption"), dateField: $("date-field"),
  secondary: $("secondary"), secondaryField: $("secondary-field"),
  opacity: $("opacity"), opacityValue: $("opacity-value"),
  legend: $("legend"), legendTitle: $("legend-title"), legendCanvas: $("legend-canvas"),
  legendLabels: $("legend-labels"), status: $("status"), coords: $("coords"),
  timeseries: $("timeseries"), tsTitle: $("timeseries-title"), tsChart: $("timeseries-chart"),
  tsClose: $("timeseries-close"), options: $("options"),
  sliderField: $("slider-field"), slider: $("date-slider"), sliderValue: $("slider-value"),
  sliderCaption: $("slider-caption"),
  draw: $("draw-button"), drawFinish: $("draw-finish"), drawClear: $("draw-clear"),
  zonal: $("zonal-button"), ardLink: $("ard-link"), zonalTable: $("zonal-table"),
  zonalCaption: $("zonal-caption"), areaHint: $("area-hint"),
};

// -- status line and API calls ----------------------------------------------------------------
class ApiError extends Error {
  constructor(code, detail, status) {
    super(`${code}: ${detail}`);
    this.code = code;
    this.detail = detail;
    this.status = status;
  }
}

function setStatus(text, kind = "info") {
  ui.status.textContent = text;
  ui.status.className = kind;
}

function showError(err, what) {
  const prefix = what ? `${what}: ` : "";
  if (err instanceof ApiError) {
    const status = err.status ? ` (HTTP ${err.status})` : "";
    setStatus(`${prefix}${err.code}${status}: ${err.detail}`, "error");
  } else {
    setStatus(`${prefix}${err && err.message ? err.message : String(err)}`, "error");
  }
}

function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) { // FastAPI's validation errors
    return detail.map((d) => (d && d.msg ? `${(d.loc || []).join(".")}: ${d.msg}` : JSON.stringify(d)))
      .join("; ");
  }
  return JSON.stringify(detail);
}

function errorFromBody(body, text, status, statusText) {
  const code = (body && body.code) || `http_${status}`;
  const detail = body && (body.detail ?? body.description);
  return new ApiError(code, detail != null ? describeDetail(detail)
    : (text || statusText || "no detail").slice(0, 300), status);
}

async function api(url, options = {}) {
  let resp;
  try {
    resp = await fetch(url, options);
  } catch (err) {
    throw new ApiError("network_error", `cannot reach ${url} (${err.message})`);
  }
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!resp.ok) throw errorFromBody(body, text, resp.status, resp.statusText);
  if (body === null) throw new ApiError("bad_response", `${url} did not answer JSON`, resp.status);
  return body;
}

// run an event handler; whatever it throws goes to the status line
function guard(fn, what) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (err) {
      showError(err, what);
    }
  };
}

window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); showError(e.reason); });
window.addEventListener("error", (e) => { e.preventDefault(); showError(e.error || e.message); });

// -- formatting -------------------------------------------------------------------------------
const pad2 = (n) => String(n).padStart(2, "0");
function fmtDate(iso) { return iso ? iso.slice(0, 10) : "?"; }
function fmtDateTime(iso) { return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : "?"; }
function fmtNumber(v) {
  if (v == null || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  const s = v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  // trailing zeros of the decimals only: 100 stays 100
  return (s.includes(".") ? s.replace(/\.?0+$/, "") : s) || "0";
}
const svgNS = "http://www.w3.org/2000/svg";
function svgEl(name, attrs = {}, parent = null) {
  const el = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

// -- the map ----------------------------------------------------------------------------------
// The base map is the server's (SARCUBE_BASEMAP): XYZ raster tiles or a MapLibre style, or
// none (a plain background and a graticule made here). Over it: the search footprints, the
// product's raster layer, the clicked point and the drawn area.
async function loadConfig() {
  try {
    return await api("viewer/config.json");
  } catch (err) {
    showError(err, "viewer config (no base map)");
    return { basemap: null };
  }
}

function mapStyle(basemap) {
  if (basemap && basemap.kind === "style") return basemap.url;
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#1b2530" } }],
  };
  if (basemap && basemap.kind === "raster") {
    style.sources.basemap = {
      type: "raster", tiles: [basemap.url], tileSize: 256, maxzoom: 19,
      attribution: basemap.attribution || "",
    };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  return style;
}

const config = await loadConfig();
const map = new maplibregl.Map({
  container: "map",
  style: mapStyle(config.basemap),
  center: [0, 20],
  zoom: 1.3,
  attributionControl: config.basemap ? { compact: false } : false,
  // lets tests and users read the canvas back (screenshots of WebGL content)
  canvasContextAttributes: { preserveDrawingBuffer: true },
});
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
map.on("error", (e) => reportMapError(e));

const EMPTY_FC = { type: "FeatureCollection", features: [] };

function addBaseLayers() {
  map.addSource("graticule", { type: "geojson", data: EMPTY_FC });
  map.addLayer({
    id: "graticule", type: "line", source: "graticule",
    paint: { "line-color": "#2c3a48", "line-width": 1 },
  });
  map.addSource("footprints", { type: "geojson", data: EMPTY_FC });
  map.addLayer({
    id: "footprints-fill", type: "fill", source: "footprints",
    paint: { "fill-color": "#4aa3df", "fill-opacity": 0.12 },
  });
  map.addLayer({
    id: "footprints-line", type: "line", source: "footprints",
    paint: { "line-color": "#4aa3df", "line-width": 1.2 },
  });
  map.addLayer({
    id: "footprints-selected", type: "line", source: "footprints",
    filter: ["==", ["get", "burst_id"], ""],
    paint: { "line-color": "#f2a93b", "line-width": 2.5 },
  });
  map.addSource("area", { type: "geojson", data: EMPTY_FC });
  map.addLayer({
    id: "area-fill", type: "fill", source: "area", filter: ["==", ["geometry-type"], "Polygon"],
    paint: { "fill-color": "#f2a93b", "fill-opacity": 0.15 },
  });
  map.addLayer({
    id: "area-line", type: "line", source: "area", filter: ["!=", ["geometry-type"], "Point"],
    paint: { "line-color": "#f2a93b", "line-width": 2, "line-dasharray": [2, 1] },
  });
  map.addLayer({
    id: "area-corners", type: "circle", source: "area", filter: ["==", ["geometry-type"], "Point"],
    paint: { "circle-radius": 4, "circle-color": "#10161d", "circle-stroke-color": "#f2a93b", "circle-stroke-width": 2 },
  });
  map.addSource("clicked", { type: "geojson", data: EMPTY_FC });
  map.addLayer({
    id: "clicked", type: "circle", source: "clicked",
    paint: {
      "circle-radius": 5, "circle-color": "#f2a93b",
      "circle-stroke-color": "#10161d", "circle-stroke-width": 2,
    },
  });
}

function niceStep(span, target) {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

function updateGraticule() {
  const b = map.getBounds();
  const west = Math.max(-180, b.getWest()), east = Math.min(180, b.getEast());
  const south = Math.max(-85, b.getSouth()), north = Math.min(85, b.getNorth());
  const step = Math.min(30, niceStep(Math.max(east - west, north - south, 1e-6), 8));
  const features = [];
  const line = (coords) => features.push({
    type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: coords },
  });
  for (let x = Math.ceil(west / step) * step; x <= east; x += step) line([[x, south], [x, north]]);
  for (let y = Math.ceil(south / step) * step; y <= north; y += step) line([[west, y], [east, y]]);
  map.getSource("graticule").setData({ type: "FeatureCollection", features });
}

map.on("mousemove", (e) => {
  const { lng, lat } = e.lngLat.wrap();
  ui.coords.textContent = `${lat.toFixed(4)}°, ${lng.toFixed(4)}°`;
});

// An error of a map source: a tile that failed, most often. MapLibre's AJAXError carries the
// status and the body, so the API's {code, detail} can be shown.
async function reportMapError(e) {
  const err = e && e.error;
  if (!err) return;
  if (!err.status && e.sourceId === "product" && await followTileJob(e.tile)) return;
  if (err.status) {
    let body = null, text = "";
    try {
      text = err.body && typeof err.body.text === "function" ? await err.body.text() : "";
      body = text ? JSON.parse(text) : null;
    } catch { body = null; }
    showError(errorFromBody(body, text, err.status, err.statusText), "tile");
  } else {
    showError(err, "map");
  }
}

// A tile answered 202: the layer needs a job (a product made by jobs whose chunks are missing,
// or a velocity made before the burst's latest date). MapLibre reports it as an image it cannot
// decode; the tile is asked again for the job, which is followed, then the layer drawn again.
let watchedJob = null;
async function followTileJob(tile) {
  const source = map.getSource("product");
  const c = tile && tile.tileID && tile.tileID.canonical;
  if (!source || !c || !Array.isArray(source.tiles)) return false;
  const url = source.tiles[0].replace("{z}", c.z).replace("{x}", c.x).replace("{y}", c.y);
  const resp = await fetch(url);
  if (resp.status !== 202) return false;
  const body = await resp.json();
  if (watchedJob === body.location) return true; // another tile of the same job
  watchedJob = body.location;
  const generation = state.layerGeneration;
  try {
    setStatus(`${state.product}: ${body.detail}`, "busy");
    for (;;) {
      await new Promise((done) => setTimeout(done, 1000));
      if (generation !== state.layerGeneration) return true; // another layer meanwhile
      const job = await api(body.location);
      if (job.state === "succeeded") break;
      if (job.state !== "queued" && job.state !== "running") {
        throw new ApiError("job_failed", `job ${job.id} ${job.state}: ${job.error || "see " + body.location}`);
      }
    }
  } finally {
    watchedJob = null;
  }
  await refreshLayer();
  return true;
}

// -- collections and products -----------------------------------------------------------------
function isPair(product) {
  const c = state.collections.get(product);
  return Boolean(c && c["sarcube:pair"]);
}

// a per-burst product (velocity): one layer over every date, no date in its URLs
function isDateless(product) {
  const c = state.collections.get(product);
  return Boolean(c && c["sarcube:dates"] === 0);
}

async function loadCollections() {
  const data = await api("stac/collections");
  const slc = (data.collections || []).find((c) => c.id === SLC_COLLECTION);
  state.collections.clear();
  ui.product.replaceChildren();
  for (const c of data.collections || []) {
    if (c.id === SLC_COLLECTION || HIDDEN_PRODUCTS.has(c.id)) continue;
    state.collections.set(c.id, c);
    const opt = document.createElement("option");
    opt.value = c.id;
    opt.textContent = `${c.title || c.id}${c["sarcube:pair"] ? " (pair)" : ""}`;
    ui.product.appendChild(opt);
  }
  state.product = state.collections.has(DEFAULT_PRODUCT) ? DEFAULT_PRODUCT
    : (state.collections.keys().next().value ?? null);
  ui.product.value = state.product ?? "";
  return slc;
}

// -- search -----------------------------------------------------------------------------------
function viewBbox() {
  const b = map.getBounds();
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  let west = b.getWest(), east = b.getEast();
  if (east - west >= 360) { west = -180; east = 180; }
  return [clamp(west, -180, 180), clamp(b.getSouth(), -90, 90),
    clamp(east, -180, 180), clamp(b.getNorth(), -90, 90)].map((v) => Number(v.toFixed(6)));
}

function datetimeInterval() {
  const a = ui.start.value, b = ui.end.value;
  if (!a && !b) return null;
  if (a && b && a > b) throw new ApiError("bad_dates", `the start date ${a} is after the end date ${b}`);
  return `${a ? `${a}T00:00:00Z` : ".."}/${b ? `${b}T23:59:59.999999Z` : ".."}`;
}

async function search() {
  const body = { bbox: viewBbox(), collections: [SLC_COLLECTION], limit: SEARCH_LIMIT };
  const interval = datetimeInterval();
  if (interval) body.datetime = interval;
  setStatus("Searching…", "busy");
  ui.search.disabled = true;
  try {
    const data = await api("stac/search", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/geo+json" },
      body: JSON.stringify(body),
    });
    state.items = (data.features || []).slice().sort((x, y) =>
      (x.properties.datetime || "").localeCompare(y.properties.datetime || "")
      || burstOf(x).localeCompare(burstOf(y)));
    const more = (data.links || []).some((l) => l.rel === "next");
    renderResults(more);
    renderFootprints();
    const bursts = new Set(state.items.map(burstOf)).size;
    setStatus(state.items.length ? `Found ${state.items.length} burst dates of ${bursts} burst IDs.`
      : "No burst in this view and period.", state.items.length ? "ok" : "info");
    if (state.burstId && !state.items.some((f) => burstOf(f) === state.burstId)) selectBurst(null, null);
    else refreshPickers();
  } finally {
    ui.search.disabled = false;
  }
}

function burstOf(f) { return (f.properties && f.properties["sarcube:burst_id"]) || f.id; }

function renderResults(more) {
  ui.results.replaceChildren();
  for (const f of state.items) {
    const li = document.createElement("li");
    const btn = document.createElement("button");
    btn.type = "button";
    btn.dataset.itemId = f.id;
    btn.title = f.id;
    btn.setAttribute("aria-pressed", "false");
    const id = document.createElement("span");
    id.className = "burst-id";
    id.textContent = burstOf(f);
    const date = document.createElement("span");
    date.className = "date";
    date.textContent = fmtDateTime(f.properties.datetime);
    btn.append(id, date);
    btn.addEventListener("click", guard(() => selectItem(f), "select"));
    li.appendChild(btn);
    ui.results.appendChild(li);
  }
  ui.summary.textContent = state.items.length
    ? `${state.items.length} results${more ? ` (the first ${SEARCH_LIMIT}: zoom in or narrow the dates for the rest)` : ""}`
    : "";
  markSelectedResult();
}

function renderFootprints() {
  const seen = new Map(); // one footprint per burst ID: the dates' footprints nearly coincide
  for (const f of state.items) {
    if (!seen.has(burstOf(f)) && f.geometry) {
      seen.set(burstOf(f), { type: "Feature", geometry: f.geometry, properties: { burst_id: burstOf(f) } });
    }
  }
  map.getSource("footprints").setData({ type: "FeatureCollection", features: [...seen.values()] });
}

function markSelectedResult() {
  for (const btn of ui.results.querySelectorAll("button")) {
    const f = state.items.find((x) => x.id === btn.dataset.itemId);
    const on = Boolean(f && burstOf(f) === state.burstId && f.properties.datetime === state.date);
    btn.setAttribute("aria-pressed", String(on));
  }
}

// -- selection: burst, dates, product ---------------------------------------------------------
function datesOf(burstId) {
  const dates = state.items.filter((f) => burstOf(f) === burstId).map((f) => f.properties.datetime);
  return [...new Set(dates)].sort();
}

function selectItem(f) {
  selectBurst(burstOf(f), f.properties.datetime);
  const bbox = f.bbox || bboxOf(f.geometry);
  if (bbox) {
    map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]],
      { padding: { ...mapPadding(), top: 50, left: 50, right: 50 }, maxZoom: 15, duration: 600 });
  }
}

// what the time-series panel covers at the bottom of the map, px
function mapPadding() {
  const covered = ui.timeseries.hidden ? 0 : ui.timeseries.offsetHeight + 28;
  return { bottom: 50 + covered };
}

function bboxOf(geometry) {
  if (!geometry) return null;
  const xs = [], ys = [];
  const walk = (c) => (typeof c[0] === "number" ? (xs.push(c[0]), ys.push(c[1])) : c.forEach(walk));
  walk(geometry.coordinates);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function selectBurst(burstId, date) {
  if (burstId !== state.burstId) {
    state.lastPoint = null;
    ui.timeseries.hidden = true;
    map.getSource("clicked").setData(EMPTY_FC);
  }
  state.burstId = burstId;
  state.date = date;
  state.secondary = null;
  map.setFilter("footprints-selected", ["==", ["get", "burst_id"], burstId || ""]);
  refreshPickers();
  refreshLayer();
}

function fillSelect(select, values, selected, label = fmtDateTime) {
  select.replaceChildren();
  for (const v of values) {
    const opt = document.createElement("option");
    opt.value = v;
    opt.textContent = label(v);
    select.appendChild(opt);
  }
  select.value = selected ?? "";
  select.disabled = values.length === 0;
}

function refreshPickers() {
  const pair = isPair(state.product);
  const dates = state.burstId ? datesOf(state.burstId) : [];
  if (state.date && !dates.includes(state.date)) state.date = dates[0] ?? null;
  fillSelect(ui.date, dates, state.date);
  ui.dateCaption.textContent = pair ? "Reference date" : "Date";
  ui.dateField.hidden = isDateless(state.product); // a per-burst product: every date at once
  ui.secondaryField.hidden = !pair;
  if (pair) {
    let later = dates.filter((d) => state.date && d > state.date);
    const i = dates.indexOf(state.date);
    if (later.length === 0 && i > 0) {
      // the last date: pair it with the one before, as the secondary date
      state.secondary = state.date;
      state.date = dates[i - 1];
      ui.date.value = state.date;
      later = dates.slice(i);
    }
    if (!later.includes(state.secondary)) state.secondary = later[0] ?? null;
    fillSelect(ui.secondary, later, state.secondary);
  }
  ui.selection.textContent = state.burstId
    ? `Burst ${state.burstId}, ${dates.length} date${dates.length === 1 ? "" : "s"} in the results.`
    : "Pick a search result to show a product.";
  markSelectedResult();
  refreshSlider();
  drawLegend();
}

// the product's options typed in the options field: "window=7x7 multilook=2x4" (or with &)
function parseOptions(text) {
  const out = [];
  for (const part of String(text || "").split(/[\s&]+/).filter(Boolean)) {
    const i = part.indexOf("=");
    if (i <= 0) throw new ApiError("bad_options", `option ${JSON.stringify(part)} is not key=value`);
    out.push([part.slice(0, i), part.slice(i + 1)]);
  }
  return out;
}

// burst, date(s) and options of the current layer as query parameters
function layerQuery() {
  const q = new URLSearchParams({ burst_id: state.burstId });
  if (isDateless(state.product)) {
    // every date of the burst: no date parameter
  } else if (isPair(state.product)) {
    q.set("reference", state.date);
    q.set("secondary", state.secondary);
  } else {
    q.set("datetime", state.date);
  }
  for (const [k, v] of parseOptions(state.options)) q.set(k, v);
  return q;
}

function tileQuery() {
  // 256-pixel tiles, as the raster source draws them (titiler's TileJSON defaults to 512)
  const q = layerQuery();
  q.set("tilesize", "256");
  return q;
}

function removeProductLayer() {
  if (map.getLayer("product")) map.removeLayer("product");
  if (map.getSource("product")) map.removeSource("product");
}

async function refreshLayer() {
  const generation = ++state.layerGeneration;
  removeProductLayer();
  refreshAreaActions(); // until the new layer is there
  ui.zonalTable.hidden = true; // its statistics were of the layer before
  if (!state.product || !state.burstId || !state.date) return;
  if (isPair(state.product) && !state.secondary) {
    setStatus(`${state.product} needs a pair: no later date of ${state.burstId} in the results; `
      + "choose an earlier reference date or widen the search.", "info");
    return;
  }
  const url = `tiles/${encodeURIComponent(state.product)}/${TMS}/tilejson.json?${tileQuery()}`;
  setStatus(`Loading ${state.product}…`, "busy");
  const tj = await api(url);
  if (generation !== state.layerGeneration) return; // the selection changed meanwhile
  if (!Array.isArray(tj.tiles) || tj.tiles.length === 0) {
    throw new ApiError("bad_tilejson", `${url} has no "tiles"`);
  }
  const base = new URL(url, document.baseURI);
  // resolved against the tilejson's URL; URL() encodes the {z}/{x}/{y} braces: undo that
  const tiles = tj.tiles.map((t) => new URL(t, base).href.replace(/%7B([\w-]+)%7D/gi, "{$1}"));
  const source = {
    type: "raster",
    tiles,
    // titiler-style servers say their tile size in the tile URL
    tileSize: Number(new URL(tiles[0]).searchParams.get("tilesize")) || tj.tileSize || 256,
    minzoom: tj.minzoom ?? 0,
    maxzoom: tj.maxzoom ?? 22,
  };
  if (Array.isArray(tj.bounds) && tj.bounds.length === 4) source.bounds = tj.bounds;
  map.addSource("product", source);
  map.addLayer({
    id: "product", type: "raster", source: "product",
    paint: { "raster-opacity": Number(ui.opacity.value), "raster-fade-duration": 0 },
  }, "footprints-line");
  map.getCanvas().classList.add("pickable");
  state.legend = legendOf(state.product, tj);
  drawLegend();
  const when = isDateless(state.product) ? "every date"
    : isPair(state.product) ? `${fmtDate(state.date)} → ${fmtDate(state.secondary)}`
    : fmtDateTime(state.date);
  const click = isDateless(state.product) ? "its value" : "a time series";
  setStatus(`${state.product} of ${state.burstId}, ${when}. Click the burst for ${click}.`, "ok");
  writePermalink();
  refreshAreaActions();
  if (state.lastPoint) await loadPoint(state.lastPoint);
}

// -- legend -----------------------------------------------------------------------------------
// What the layer shows, from its tilejson (raster_layers.default: title, units, rescale,
// colormap_stops, db_factor, view), titled by the product's STAC collection.
function legendOf(product, tj) {
  const layer = tj && tj.raster_layers && (tj.raster_layers.default || Object.values(tj.raster_layers)[0]);
  if (!layer) return null;
  const collection = state.collections.get(product);
  const r = Array.isArray(layer.rescale) ? (Array.isArray(layer.rescale[0]) ? layer.rescale[0] : layer.rescale) : null;
  if (!r || r.length !== 2 || !r.every(Number.isFinite)) return null;
  const stops = Array.isArray(layer.colormap_stops) && layer.colormap_stops.length >= 2 ? layer.colormap_stops : GRAY;
  return {
    product,
    title: (collection && collection.title) || product,
    detail: layer.title || "",
    units: typeof layer.units === "string" && layer.units !== "1" ? layer.units : "",
    min: r[0], max: r[1], stops,
    dbFactor: Number.isFinite(layer.db_factor) ? layer.db_factor : null,
    view: layer.view || "",
  };
}

// a range end as text: multiples of π in radians read as such
function fmtLimit(v, units) {
  if (units === "rad" && Math.abs(Math.abs(v) - Math.PI) < 1e-6) return v < 0 ? "−π" : "π";
  return fmtNumber(v);
}

function drawLegend() {
  const style = state.legend && state.legend.product === state.product ? state.legend : null;
  if (!style || !state.product || !map.getLayer("product")) {
    ui.legend.hidden = true;
    return;
  }
  ui.legend.hidden = false;
  const cmap = colormap(style.stops);
  const canvas = ui.legendCanvas;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let x = 0; x < canvas.width; x++) {
    const [r, g, b] = cmap(x / (canvas.width - 1));
    for (let y = 0; y < canvas.height; y++) {
      const i = 4 * (y * canvas.width + x);
      img.data[i] = r; img.data[i + 1] = g; img.data[i + 2] = b; img.data[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  ui.legendTitle.textContent = `${style.title}${style.units ? ` (${style.units})` : ""}`;
  ui.legendTitle.title = style.detail;
  const mid = (style.min + style.max) / 2;
  const labels = [fmtLimit(style.min, style.units), fmtLimit(mid, style.units), fmtLimit(style.max, style.units)];
  ui.legendLabels.replaceChildren(...labels.map((t) => {
    const s = document.createElement("span");
    s.textContent = t;
    return s;
  }));
}

// How a value of /point or /zonal is shown, as the tiles show it: a complex value
// ({re, im, abs, phase}) by its phase in a phase view, else its magnitude; a linear value in
// dB where the layer's view is dB (db_factor·log10); metres (displacement, velocity) in mm
// where the view shows mm or mm/yr.
function displayOf(legend) {
  const part = legend && legend.view === "phase" ? "phase" : "abs";
  const factor = legend && legend.dbFactor;
  const scale = legend && /^mm\b/.test(legend.units) ? 1e3 : 1;
  return {
    units: legend ? legend.units : "",
    title: legend ? legend.title : "",
    raw: (v) => (v !== null && typeof v === "object" ? v[part] : v),
    value(v) {
      if (v !== null && typeof v === "object") v = v[part];
      if (typeof v !== "number" || !Number.isFinite(v)) return null;
      if (!factor || (part === "phase")) return scale * v;
      return v > 0 ? factor * Math.log10(v) : null;
    },
    inDb: Boolean(factor) && part !== "phase",
  };
}

// -- time series ------------------------------------------------------------------------------
async function loadPoint(lngLat) {
  const generation = ++state.pointGeneration;
  const q = new URLSearchParams({
    lon: lngLat.lng.toFixed(6), lat: lngLat.lat.toFixed(6),
    product: state.product, burst_id: state.burstId,
  });
  for (const [k, v] of parseOptions(state.options)) q.set(k, v);
  state.lastPoint = lngLat;
  map.getSource("clicked").setData({
    type: "FeatureCollection",
    features: [{ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: [lngLat.lng, lngLat.lat] } }],
  });
  setStatus(`Reading the ${state.product} time series…`, "busy");
  const data = await api(`point?${q}`);
  if (generation !== state.pointGeneration) return;
  const n = drawChart(data, lngLat);
  // keep the clicked point in sight above the panel
  const y = map.project([lngLat.lng, lngLat.lat]).y;
  const limit = map.getCanvas().clientHeight - mapPadding().bottom + 30;
  if (y > limit) map.panBy([0, y - limit + 40], { duration: 300 });
  setStatus(`${n} value${n === 1 ? "" : "s"} at ${lngLat.lat.toFixed(5)}°, ${lngLat.lng.toFixed(5)}°.`, "ok");
}

function pointTime(entry) {
  if (entry.datetime) return { t: Date.parse(entry.datetime) };
  const t0 = Date.parse(entry.reference), t1 = Date.parse(entry.secondary);
  return { t: (t0 + t1) / 2, t0, t1 };
}

function niceTicks(lo, hi, count) {
  const step = niceStep(hi - lo, count);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

function drawChart(data, lngLat) {
  const legend = state.legend && state.legend.product === data.product ? state.legend : null;
  const show = displayOf(legend);
  const toDb = show.inDb;
  const style = { title: show.title || data.product };
  const series = (data.series || []).map((s) => ({ ...s, ...pointTime(s), value: show.value(s.value), raw: show.raw(s.value) }))
    .filter((s) => Number.isFinite(s.t)).sort((a, b) => a.t - b.t);
  const pair = series.some((s) => s.reference);
  const units = legend ? show.units : data.units && data.units !== "1" ? data.units : "";
  ui.timeseries.hidden = false;
  ui.tsTitle.textContent = `${style.title} at ${lngLat.lat.toFixed(5)}°, `
    + `${lngLat.lng.toFixed(5)}° (burst ${data.burst_id})`;

  const width = Math.max(ui.tsChart.clientWidth, 320), height = Math.max(ui.tsChart.clientHeight, 140);
  const m = { left: 64, right: 16, top: 10, bottom: 42 };
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": ui.tsTitle.textContent });
  ui.tsChart.replaceChildren(svg);
  if (!data.series && "value" in data) { // a per-burst product (velocity): one value over every date
    const v = show.value(data.value);
    const std = Number.isFinite(data.velocity_std) ? ` ± ${fmtNumber(show.value(data.velocity_std))}` : "";
    svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: v == null ? "empty" : "" }, svg)
      .textContent = v == null ? "No value at this point (outside the burst, or no data)."
        : `${fmtNumber(v)}${std}${units ? ` ${units}` : ""} over every date`;
    return v == null ? 0 : 1;
  }
  const valid = series.filter((s) => s.value != null && Number.isFinite(s.value));
  if (valid.length === 0) {
    svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, svg)
      .textContent = "No value at this point (outside the burst, or no data).";
    return 0;
  }

  // scales
  const ts = series.flatMap((s) => (pair ? [s.t0, s.t1] : [s.t]));
  let t0 = Math.min(...ts), t1 = Math.max(...ts);
  if (t1 - t0 < 86400e3) { t0 -= 6 * 86400e3; t1 += 6 * 86400e3; }
  const tpad = (t1 - t0) * 0.04;
  t0 -= tpad; t1 += tpad;
  let v0 = Math.min(...valid.map((s) => s.value)), v1 = Math.max(...valid.map((s) => s.value));
  if (v1 - v0 < 1e-12) { const d = Math.abs(v0) * 0.1 || 1; v0 -= d; v1 += d; }
  const vpad = (v1 - v0) * 0.08;
  v0 -= vpad; v1 += vpad;
  const X = (t) => m.left + ((t - t0) / (t1 - t0)) * (width - m.left - m.right);
  const Y = (v) => height - m.bottom - ((v - v0) / (v1 - v0)) * (height - m.top - m.bottom);

  // grid and axes
  const grid = svgEl("g", { class: "grid" }, svg);
  const yAxis = svgEl("g", { class: "axis y-axis" }, svg);
  for (const v of niceTicks(v0, v1, 5)) {
    svgEl("line", { x1: m.left, x2: width - m.right, y1: Y(v), y2: Y(v) }, grid);
    svgEl("text", { x: m.left - 6, y: Y(v) + 4, "text-anchor": "end" }, yAxis).textContent = fmtNumber(v);
  }
  svgEl("line", { x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom }, yAxis);
  const xAxis = svgEl("g", { class: "axis x-axis" }, svg);
  svgEl("line", { x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom }, xAxis);
  const day = 86400e3;
  const nTicks = Math.max(2, Math.floor((width - m.left - m.right) / 90));
  const tstep = Math.max(day, Math.ceil((t1 - t0) / nTicks / day) * day);
  for (let t = Math.ceil(t0 / day) * day; t <= t1; t += tstep) {
    svgEl("line", { x1: X(t), x2: X(t), y1: height - m.bottom, y2: height - m.bottom + 4 }, xAxis);
    const d = new Date(t);
    svgEl("text", { x: X(t), y: height - m.bottom + 16, "text-anchor": "middle" }, xAxis).textContent =
      `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  }
  svgEl("text", { x: (m.left + width - m.right) / 2, y: height - 6, "text-anchor": "middle", class: "axis-label" }, svg)
    .textContent = pair ? "Pair mid-date (UTC); bars span reference → secondary" : "Acquisition date (UTC)";
  svgEl("text", {
    x: 0, y: 0, "text-anchor": "middle", class: "axis-label",
    transform: `translate(14 ${(m.top + height - m.bottom) / 2}) rotate(-90)`,
  }, svg).textContent = `${style.title}${units ? ` (${units})` : ""}`;

  // the series: a line broken where values are missing, one circle per value
  const parts = [];
  let run = [];
  for (const s of series) {
    if (s.value == null || !Number.isFinite(s.value)) { if (run.length) parts.push(run); run = []; } else run.push(s);
  }
  if (run.length) parts.push(run);
  for (const p of parts) {
    if (p.length > 1) {
      svgEl("path", { class: "series", d: p.map((s, i) => `${i ? "L" : "M"}${X(s.t).toFixed(1)},${Y(s.value).toFixed(1)}`).join("") }, svg);
    }
  }
  const points = svgEl("g", { class: "points" }, svg);
  for (const s of valid) {
    if (pair) svgEl("line", { class: "span", x1: X(s.t0), x2: X(s.t1), y1: Y(s.value), y2: Y(s.value) }, points);
    const selected = pair ? s.reference === state.date && s.secondary === state.secondary
      : s.datetime === state.date;
    const c = svgEl("circle", { cx: X(s.t), cy: Y(s.value), r: selected ? 5 : 4, class: selected ? "selected" : "" }, points);
    const when = pair ? `${fmtDateTime(s.reference)} → ${fmtDateTime(s.secondary)}` : fmtDateTime(s.datetime);
    svgEl("title", {}, c).textContent = `${when}: ${fmtNumber(s.value)}${units ? ` ${units}` : ""}`
      + (toDb ? ` (linear ${fmtNumber(s.raw)})` : "");
  }
  return valid.length;
}

// -- date slider ------------------------------------------------------------------------------
// Steps through the burst's dates (per-date products) or its consecutive pairs (pair products).
// A per-burst product (velocity) has no date to step through: no slider.
function sliderSteps() {
  const dates = state.burstId && !isDateless(state.product) ? datesOf(state.burstId) : [];
  if (!isPair(state.product)) return dates.map((d) => ({ date: d, secondary: null, label: fmtDate(d) }));
  return dates.slice(0, -1).map((d, i) => ({
    date: d, secondary: dates[i + 1], label: `${fmtDate(d)} → ${fmtDate(dates[i + 1])}`,
  }));
}

function refreshSlider() {
  const steps = sliderSteps();
  ui.sliderField.hidden = steps.length < 2;
  ui.sliderCaption.textContent = isPair(state.product) ? "Pairs of consecutive dates" : "Dates";
  ui.slider.max = String(Math.max(steps.length - 1, 0));
  const i = steps.findIndex((st) => st.date === state.date && (!st.secondary || st.secondary === state.secondary));
  if (i >= 0) ui.slider.value = String(i);
  ui.sliderValue.textContent = i >= 0 ? steps[i].label : "";
}

let sliderTimer = null;
function onSlider() {
  const step = sliderSteps()[Number(ui.slider.value)];
  if (!step) return;
  ui.sliderValue.textContent = step.label;
  clearTimeout(sliderTimer);
  // the layer follows once the slider rests (dragging passes many dates)
  sliderTimer = setTimeout(guard(async () => {
    state.date = step.date;
    state.secondary = step.secondary;
    refreshPickers();
    await refreshLayer();
  }, "date"), 150);
}

// -- permalink --------------------------------------------------------------------------------
// #map=zoom/lat/lon&product=…&burst=…&date=…&secondary=…&from=…&to=…&options=…&opacity=…
function writePermalink() {
  if (state.restoring) return; // not before the permalink being read is restored
  const c = map.getCenter();
  const q = new URLSearchParams();
  q.set("map", `${map.getZoom().toFixed(2)}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`);
  if (state.product) q.set("product", state.product);
  if (state.burstId) q.set("burst", state.burstId);
  if (state.date) q.set("date", state.date);
  if (state.secondary && isPair(state.product)) q.set("secondary", state.secondary);
  if (ui.start.value) q.set("from", ui.start.value);
  if (ui.end.value) q.set("to", ui.end.value);
  if (state.options) q.set("options", state.options);
  if (ui.opacity.value !== "0.85") q.set("opacity", ui.opacity.value);
  history.replaceState(null, "", `#${q}`);
}

function readPermalink() {
  const q = new URLSearchParams(location.hash.slice(1));
  if (![...q.keys()].length) return null;
  const view = (q.get("map") || "").split("/").map(Number);
  return {
    view: view.length === 3 && view.every(Number.isFinite) ? { zoom: view[0], center: [view[2], view[1]] } : null,
    product: q.get("product"), burst: q.get("burst"), date: q.get("date"),
    secondary: q.get("secondary"), from: q.get("from"), to: q.get("to"),
    options: q.get("options") || "", opacity: q.get("opacity"),
  };
}

// -- area: draw a polygon, then its statistics (/zonal) or a download (/ard) -----------------------
function areaGeometry() {
  if (!state.areaClosed || state.area.length < 3) return null;
  return { type: "Polygon", coordinates: [[...state.area, state.area[0]]] };
}

function drawArea() {
  const features = state.area.map((c) => ({ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: c } }));
  const polygon = areaGeometry();
  if (polygon) features.push({ type: "Feature", properties: {}, geometry: polygon });
  else if (state.area.length > 1) {
    features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: state.area } });
  }
  map.getSource("area").setData({ type: "FeatureCollection", features });
}

function setDrawing(on) {
  state.drawing = on;
  ui.draw.setAttribute("aria-pressed", String(on));
  map.getCanvas().classList.toggle("drawing", on);
  if (on) map.doubleClickZoom.disable(); else map.doubleClickZoom.enable();
  ui.drawFinish.disabled = !on || state.area.length < 3;
  ui.drawClear.disabled = state.area.length === 0;
  ui.areaHint.textContent = on
    ? "Click the corners; click the first corner or Finish to close the polygon."
    : areaGeometry() ? "Statistics of the product's pixels inside, or a download of the area."
      : "Draw a polygon for its statistics or a download of the product.";
}

function addCorner(lngLat) {
  const p = map.project(lngLat);
  if (state.area.length >= 3) {
    const first = map.project(state.area[0]);
    if (Math.hypot(p.x - first.x, p.y - first.y) < 10) { finishArea(); return; }
  }
  state.area.push([Number(lngLat.lng.toFixed(7)), Number(lngLat.lat.toFixed(7))]);
  drawArea();
  setDrawing(true);
}

function finishArea() {
  if (state.area.length < 3) return;
  state.areaClosed = true;
  drawArea();
  setDrawing(false);
  refreshAreaActions();
}

function clearArea() {
  state.area = [];
  state.areaClosed = false;
  drawArea();
  setDrawing(false);
  ui.zonalTable.hidden = true;
  refreshAreaActions();
}

function refreshAreaActions() {
  const polygon = areaGeometry();
  const ready = Boolean(polygon && state.product && state.burstId && state.date
    && (!isPair(state.product) || state.secondary));
  ui.zonal.disabled = !ready;
  ui.ardLink.setAttribute("aria-disabled", String(!ready));
  if (!ready) { ui.ardLink.removeAttribute("href"); return; }
  // /ard of the polygon: its bounding box, masked outside it
  let q;
  try { q = layerQuery(); } catch { ui.ardLink.removeAttribute("href"); return; }
  q.set("intersects", JSON.stringify(polygon));
  q.set("format", "tif");
  ui.ardLink.href = `ard/${encodeURIComponent(state.product)}?${q}`;
  ui.ardLink.title = `${state.product} of the drawn area (outside it: NaN), GeoTIFF`;
}

async function zonalStatistics() {
  const polygon = areaGeometry();
  if (!polygon) return;
  const body = {
    product: state.product, burst_id: state.burstId,
    options: Object.fromEntries(parseOptions(state.options)),
    features: { type: "FeatureCollection", features: [{ type: "Feature", id: "area", properties: {}, geometry: polygon }] },
  };
  setStatus(`Statistics of ${state.product} over the area…`, "busy");
  const data = await api("zonal", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const legend = state.legend && state.legend.product === state.product ? state.legend : null;
  const show = displayOf(legend);
  const units = legend ? show.units : data.units && data.units !== "1" ? data.units : "";
  ui.zonalCaption.textContent = `${show.title || data.product}${units ? ` (${units})` : ""}, burst ${data.burst_id}`;
  const rows = (data.results || []).map((r) => {
    const tr = document.createElement("tr");
    const when = r.reference ? `${fmtDate(r.reference)} → ${fmtDate(r.secondary)}` : fmtDate(r.datetime);
    // phase statistics come as numbers already; a dB view shows the linear mean in dB
    const mean = show.inDb ? show.value(r.mean) : r.mean, median = show.inDb ? show.value(r.median) : r.median;
    for (const text of [when, fmtNumber(mean), fmtNumber(median), String(r.count)]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  });
  ui.zonalTable.tBodies[0].replaceChildren(...rows);
  ui.zonalTable.hidden = false;
  setStatus(`${rows.length} statistics of ${state.product} over the area.`, "ok");
}

// -- wiring -----------------------------------------------------------------------------------
ui.search.addEventListener("click", guard(search, "search"));
ui.product.addEventListener("change", guard(async () => {
  state.product = ui.product.value;
  refreshPickers();
  await refreshLayer();
}, "product"));
ui.date.addEventListener("change", guard(async () => {
  state.date = ui.date.value;
  refreshPickers();
  await refreshLayer();
}, "date"));
ui.secondary.addEventListener("change", guard(async () => {
  state.secondary = ui.secondary.value;
  await refreshLayer();
}, "secondary date"));
ui.opacity.addEventListener("input", () => {
  const v = Number(ui.opacity.value);
  ui.opacityValue.textContent = `${Math.round(v * 100)} %`;
  if (map.getLayer("product")) map.setPaintProperty("product", "raster-opacity", v);
  writePermalink();
});
ui.slider.addEventListener("input", onSlider);
ui.options.addEventListener("change", guard(async () => {
  parseOptions(ui.options.value); // a malformed option is said here, before any request
  state.options = ui.options.value.trim();
  await refreshLayer();
}, "options"));
ui.draw.addEventListener("click", () => {
  if (state.drawing) { setDrawing(false); return; }
  if (state.areaClosed) clearArea();
  setDrawing(true);
});
ui.drawFinish.addEventListener("click", finishArea);
ui.drawClear.addEventListener("click", clearArea);
ui.zonal.addEventListener("click", guard(zonalStatistics, "zonal statistics"));
ui.tsClose.addEventListener("click", () => {
  ui.timeseries.hidden = true;
  state.lastPoint = null;
  map.getSource("clicked").setData(EMPTY_FC);
});

map.on("click", guard(async (e) => {
  const lngLat = e.lngLat.wrap();
  if (state.drawing) { addCorner(lngLat); return; }
  const hits = map.queryRenderedFeatures(e.point, { layers: ["footprints-fill"] })
    .map((f) => f.properties.burst_id);
  if (hits.length && !hits.includes(state.burstId)) {
    // a click on another burst's footprint selects that burst, at the same date if it has one
    const dates = datesOf(hits[0]);
    const near = state.date && dates.includes(state.date) ? state.date : dates[0];
    selectBurst(hits[0], near);
    return;
  }
  if (!state.burstId || !state.product || !map.getLayer("product")) {
    setStatus("Search, then pick a result: a click then gives the time series at that point.");
    return;
  }
  await loadPoint(lngLat);
}, "time series"));

// For tests and the console: the map, the state and whether the product's tiles are loaded.
window.sarcube = {
  map, state, ready: false,
  productLoaded: () => Boolean(map.getSource("product")) && map.isSourceLoaded("product") && map.areTilesLoaded(),
};

async function start() {
  addBaseLayers();
  updateGraticule();
  map.on("moveend", updateGraticule);
  map.on("moveend", writePermalink);
  const link = readPermalink();
  state.restoring = link;
  setStatus("Reading the collections…", "busy");
  const slc = await loadCollections();
  const bbox = slc && slc.extent && slc.extent.spatial.bbox[0];
  const interval = slc && slc.extent && slc.extent.temporal.interval[0];
  if (interval && interval[0]) ui.start.value = interval[0].slice(0, 10);
  if (interval && interval[1]) ui.end.value = interval[1].slice(0, 10);
  if (link) {
    await restore(link);
  } else if (bbox && bbox[2] - bbox[0] < 360) {
    // start over the cube's extent, with its bursts listed
    map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 40, duration: 0, maxZoom: 14 });
    await search();
  } else {
    setStatus("The cube has no bursts yet.", "info");
  }
}

// the view, the period, then the search, then the burst, product, dates and options of a permalink
async function restore(link) {
  if (link.from !== null) ui.start.value = link.from;
  if (link.to !== null) ui.end.value = link.to;
  if (link.opacity !== null && Number.isFinite(Number(link.opacity))) {
    ui.opacity.value = link.opacity;
    ui.opacityValue.textContent = `${Math.round(Number(link.opacity) * 100)} %`;
  }
  if (link.view) map.jumpTo(link.view);
  if (link.product && state.collections.has(link.product)) {
    state.product = link.product;
    ui.product.value = link.product;
  }
  state.options = link.options;
  ui.options.value = link.options;
  await search();
  state.restoring = null;
  if (link.burst && datesOf(link.burst).length) {
    state.burstId = link.burst;
    state.date = link.date;
    state.secondary = link.secondary;
    map.setFilter("footprints-selected", ["==", ["get", "burst_id"], link.burst]);
    refreshPickers();
    await refreshLayer();
  } else {
    writePermalink();
    if (link.burst) setStatus(`Burst ${link.burst} of the link is not in this view and period.`, "info");
  }
}

map.on("load", async () => {
  try {
    await start();
  } catch (err) {
    showError(err, "start");
  } finally {
    window.sarcube.ready = true;
  }
});
