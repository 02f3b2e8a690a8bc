// sarcube viewer: search bursts (STAC), show a product as tiles, click for a time series.
//
// Plain ES module, no framework. MapLibre GL is loaded before this module as a classic script
// (static/vendor/maplibre-gl.js, copied there by build.sh) and used as window.maplibregl.
// Every URL is relative to the page, which the API serves at its root: stac/..., tiles/...,
// point. Errors of the API ({code, detail}, or {code, description} from the STAC API) go to
// the status line, never to the console.

const maplibregl = window.maplibregl;

const SLC_COLLECTION = "sentinel-1-slc-bursts";
const SEARCH_LIMIT = 50;
const TMS = "WebMercatorQuad";
// products the picker leaves out: the CSLC is complex, with no single-band rendering to look at
const HIDDEN_PRODUCTS = new Set(["cslc"]);
const DEFAULT_PRODUCT = "backscatter";

// Legend defaults, one entry per product: value range, units and colour map of the tiles.
// A tilejson that says how it renders (raster_layers.default: rescale, units, colormap_name)
// overrides them. A product missing here is still shown, without a legend unless the tilejson
// gives one. dbFactor: the time series of a linear value (units "1") is drawn in dB,
// dbFactor·log10(value), as the tiles are (10 for power, 20 for amplitude). complexPart: which
// part of a complex value ({re, im, abs, phase} in a /point series) the time series draws.
export const PRODUCT_DISPLAY = {
  backscatter: { title: "Backscatter", units: "dB", min: -25, max: 0, colormap: "gray", dbFactor: 10 },
  amplitude: { title: "Amplitude", units: "dB", min: 0, max: 60, colormap: "gray", dbFactor: 20 },
  coherence: { title: "Coherence", units: "", min: 0, max: 1, colormap: "viridis" },
  interferogram: {
    title: "Interferogram phase", units: "rad", min: -Math.PI, max: Math.PI, colormap: "phase",
    labels: ["−π", "0", "π"], complexPart: "phase",
  },
};

// Colour maps by the names the tile server uses (rio-tiler's, which are matplotlib's and
// cmocean's), as evenly spaced stops, linearly interpolated; "<name>_r" is reversed. Note that
// "greys" runs white → black and "gray" black → white.
const STOPS = {
  gray: [[0, 0, 0], [255, 255, 255]],
  greys: [[255, 255, 255], [247, 247, 247], [239, 239, 239], [228, 228, 228], [216, 216, 216],
    [202, 202, 202], [188, 188, 188], [168, 168, 168], [149, 149, 149], [132, 132, 132],
    [115, 115, 115], [98, 98, 98], [82, 82, 82], [59, 59, 59], [37, 37, 37], [18, 18, 18], [0, 0, 0]],
  viridis: [[68, 1, 84], [71, 24, 106], [71, 44, 123], [66, 64, 133], [58, 82, 139], [50, 98, 141],
    [44, 114, 142], [38, 129, 142], [32, 144, 140], [30, 158, 136], [39, 173, 128], [61, 187, 116],
    [91, 200, 98], [129, 211, 76], [170, 219, 50], [212, 225, 26], [253, 231, 36]],
  // cyclic (cmocean "phase"): −π and π get the same colour
  phase: [[167, 119, 12], [189, 103, 39], [206, 85, 67], [218, 64, 101], [222, 42, 147],
    [213, 41, 195], [192, 65, 229], [162, 91, 243], [125, 114, 240], [84, 131, 221], [45, 143, 190],
    [25, 148, 157], [12, 152, 125], [33, 154, 85], [90, 148, 34], [136, 135, 13], [167, 119, 12]],
  twilight: [[225, 216, 226], [194, 205, 211], [147, 180, 198], [113, 150, 192], [97, 116, 186],
    [94, 79, 172], [89, 41, 141], [68, 18, 90], [47, 19, 54], [74, 19, 65], [115, 29, 78],
    [152, 52, 79], [178, 86, 82], [194, 124, 98], [204, 163, 137], [216, 198, 190], [225, 216, 225]],
  hsv: [[255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 255, 255], [0, 0, 255], [255, 0, 255], [255, 0, 0]],
};

// t in [0, 1] → [r, g, b] of the named map, or null for a name not known here
function colormap(name) {
  const key = String(name || "").toLowerCase();
  const reversed = key.endsWith("_r");
  const stops = STOPS[reversed ? key.slice(0, -2) : key];
  if (!stops) return null;
  return (t) => {
    const x = (reversed ? 1 - t : t) * (stops.length - 1);
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
  legend: null,           // what the legend shows: PRODUCT_DISPLAY[product] + the tilejson's word
  layerGeneration: 0,     // ignores the answer of an older tilejson request
  pointGeneration: 0,
  lastPoint: null,
};

const $ = (id) => document.getElementById(id);
const ui = {
  start: $("date-start"), end: $("date-end"), search: $("search-button"),
  summary: $("search-summary"), results: $("results"), selection: $("selection"),
  product: $("product"), date: $("date"), dateCaption: $("date-caption"),
  secondary: $("secondary"), secondaryField: $("secondary-field"),
  opacity: $("opacity"), opacityValue: $("opacity-value"),
  legend: $("legend"), legendTitle: $("legend-title"), legendCanvas: $("legend-canvas"),
  legendLabels: $("legend-labels"), status: $("status"), coords: $("coords"),
  timeseries: $("timeseries"), tsTitle: $("timeseries-title"), tsChart: $("timeseries-chart"),
  tsClose: $("timeseries-close"),
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
  return v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3).replace(/\.?0+$/, "") || "0";
}
const svgNS = "http://www.w3.org/2000/svg";
function svgEl(name, attrs = {}, parent = null) {
  const el = document.createElementNS(svgNS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

// -- the map ----------------------------------------------------------------------------------
// No base map: the network may be closed, so the style is a plain background, a graticule
// made here, the search footprints, and the product's raster layer.
const map = new maplibregl.Map({
  container: "map",
  style: {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#1b2530" } }],
  },
  center: [0, 20],
  zoom: 1.3,
  attributionControl: false,
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

// -- collections and products -----------------------------------------------------------------
function isPair(product) {
  const c = state.collections.get(product);
  return Boolean(c && c["sarcube:pair"]);
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
  drawLegend();
}

function tileQuery() {
  // 256-pixel tiles, as the raster source draws them (titiler's TileJSON defaults to 512)
  const q = new URLSearchParams({ burst_id: state.burstId, tilesize: "256" });
  if (isPair(state.product)) {
    q.set("reference", state.date);
    q.set("secondary", state.secondary);
  } else {
    q.set("datetime", state.date);
  }
  return q;
}

function removeProductLayer() {
  if (map.getLayer("product")) map.removeLayer("product");
  if (map.getSource("product")) map.removeSource("product");
}

async function refreshLayer() {
  const generation = ++state.layerGeneration;
  removeProductLayer();
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
  const when = isPair(state.product) ? `${fmtDate(state.date)} → ${fmtDate(state.secondary)}`
    : fmtDateTime(state.date);
  setStatus(`${state.product} of ${state.burstId}, ${when}. Click the burst for a time series.`, "ok");
  if (state.lastPoint) await loadPoint(state.lastPoint);
}

// -- legend -----------------------------------------------------------------------------------
// The defaults of a product, with what its tilejson says of the rendering where it says it.
function legendOf(product, tj) {
  const collection = state.collections.get(product);
  const style = { title: (collection && collection.title) || product, ...(PRODUCT_DISPLAY[product] || {}) };
  const layer = tj && tj.raster_layers && (tj.raster_layers.default || Object.values(tj.raster_layers)[0]);
  if (layer) {
    const r = Array.isArray(layer.rescale) ? (Array.isArray(layer.rescale[0]) ? layer.rescale[0] : layer.rescale) : null;
    if (r && r.length === 2 && r.every(Number.isFinite)) {
      if (!(Math.abs(r[0] - style.min) < 1e-6 && Math.abs(r[1] - style.max) < 1e-6)) delete style.labels;
      [style.min, style.max] = r;
    }
    if (typeof layer.units === "string") style.units = layer.units === "1" ? "" : layer.units;
    if (colormap(layer.colormap_name)) style.colormap = layer.colormap_name;
  }
  return Number.isFinite(style.min) && Number.isFinite(style.max) ? { ...style, product } : null;
}

function drawLegend() {
  const style = state.legend && state.legend.product === state.product ? state.legend
    : legendOf(state.product, null);
  if (!style || !state.product) {
    ui.legend.hidden = true;
    return;
  }
  ui.legend.hidden = false;
  const cmap = colormap(style.colormap) || colormap("gray");
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
  const labels = style.labels || [fmtNumber(style.min), fmtNumber(style.max)];
  ui.legendLabels.replaceChildren(...labels.map((t) => {
    const s = document.createElement("span");
    s.textContent = t;
    return s;
  }));
}

// -- time series ------------------------------------------------------------------------------
async function loadPoint(lngLat) {
  const generation = ++state.pointGeneration;
  const q = new URLSearchParams({
    lon: lngLat.lng.toFixed(6), lat: lngLat.lat.toFixed(6),
    product: state.product, burst_id: state.burstId,
  });
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
  const style = PRODUCT_DISPLAY[data.product] || {};
  // a complex value comes as {re, im, abs, phase}: draw one part of it
  const part = style.complexPart || "abs";
  const complex = (data.series || []).some((s) => s.value !== null && typeof s.value === "object");
  // a linear power or amplitude (units "1") is drawn in dB, as the tiles show it
  const toDb = Boolean(style.dbFactor) && !complex && (!data.units || data.units === "1");
  const display = (v) => {
    if (v !== null && typeof v === "object") v = v[part];
    if (typeof v !== "number" || !Number.isFinite(v)) return null;
    if (!toDb) return v;
    return v > 0 ? style.dbFactor * Math.log10(v) : null;
  };
  const raw = (v) => (v !== null && typeof v === "object" ? v[part] : v);
  const series = (data.series || []).map((s) => ({ ...s, ...pointTime(s), value: display(s.value), raw: raw(s.value) }))
    .filter((s) => Number.isFinite(s.t)).sort((a, b) => a.t - b.t);
  const pair = series.some((s) => s.reference);
  const units = toDb ? "dB" : complex && part === "phase" ? "rad"
    : data.units && data.units !== "1" ? data.units : "";
  ui.timeseries.hidden = false;
  ui.tsTitle.textContent = `${style.title || data.product} at ${lngLat.lat.toFixed(5)}°, `
    + `${lngLat.lng.toFixed(5)}° (burst ${data.burst_id})`;

  const width = Math.max(ui.tsChart.clientWidth, 320), height = Math.max(ui.tsChart.clientHeight, 140);
  const m = { left: 64, right: 16, top: 10, bottom: 42 };
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": ui.tsTitle.textContent });
  ui.tsChart.replaceChildren(svg);
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
  }, svg).textContent = `${style.title || data.product}${units ? ` (${units})` : ""}`;

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
});
ui.tsClose.addEventListener("click", () => {
  ui.timeseries.hidden = true;
  state.lastPoint = null;
  map.getSource("clicked").setData(EMPTY_FC);
});

map.on("click", guard(async (e) => {
  const lngLat = e.lngLat.wrap();
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
  setStatus("Reading the collections…", "busy");
  const slc = await loadCollections();
  const bbox = slc && slc.extent && slc.extent.spatial.bbox[0];
  const interval = slc && slc.extent && slc.extent.temporal.interval[0];
  if (interval && interval[0]) ui.start.value = interval[0].slice(0, 10);
  if (interval && interval[1]) ui.end.value = interval[1].slice(0, 10);
  drawLegend();
  if (bbox && bbox[2] - bbox[0] < 360) {
    // start over the cube's extent, with its bursts listed
    map.fitBounds([[bbox[0], bbox[1]], [bbox[2], bbox[3]]], { padding: 40, duration: 0, maxZoom: 14 });
    await search();
  } else {
    setStatus("The cube has no bursts yet.", "info");
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
