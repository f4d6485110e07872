/* werkbrug · the regional board's page.
 *
 * Polls GET v1/board/version about three times a second and fetches
 * GET v1/board only when the version moved; renders the figures as
 * text (nl-NL) and the trends with Chart.js (served by werkbrug itself).
 * Counts may be the string "< 5" (a group too small to show) or "x" (a larger
 * one hidden so that a small one cannot be worked out from the total): shown
 * as such, never drawn. Everything from the server goes into the page as text.
 */
(function () {
  "use strict";

  var POLL_MS = 300;          // visible page: a change shows within a second
  var HIDDEN_POLL_MS = 5000;  // background tab: just keep in touch
  var RETRY_MS = 2000;        // after a failed poll
  var TIMEOUT_MS = 5000;

  var LOCALE = "nl-NL";
  var SUPPRESSED = "< 5";
  var TARGET_GROUPS = {
    bijstand: "Bijstand",
    doelgroepregister: "Doelgroepregister (banenafspraak)",
    sw: "Sociale werkvoorziening",
    statushouder: "Statushouders",
    statushouders: "Statushouders",
    "50plus": "50-plussers",
    ww: "WW",
  };
  var SHORT_GROUPS = { doelgroepregister: "Doelgroepregister", sw: "SW" };  // chart axes are narrow
  var COLOURS = { enrolled: "#2f6db5", placed: "#0a7a5a", sustained: "#b3541e", realised: "#0a7a5a" };

  var integer = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
  var decimal = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1 });
  var percent = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 1 });
  var percentAxis = new Intl.NumberFormat(LOCALE, { style: "percent", maximumFractionDigits: 0 });
  var points = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 1, signDisplay: "exceptZero" });
  var stamp = new Intl.DateTimeFormat(LOCALE, { dateStyle: "long", timeStyle: "medium" });
  var clock = new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  var day = new Intl.DateTimeFormat(LOCALE, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  var month = new Intl.DateTimeFormat(LOCALE, { month: "short", year: "numeric", timeZone: "UTC" });

  // ---- formatting ------------------------------------------------------------------

  function isSuppressed(v) { return typeof v === "string"; }
  function missing(v) { return v === null || v === undefined; }

  function count(v) { return missing(v) ? "–" : isSuppressed(v) ? v : integer.format(v); }
  function rate(v) { return missing(v) ? "–" : percent.format(v); }
  function days(v) { return missing(v) ? "–" : isSuppressed(v) ? v : decimal.format(v); }
  function plotted(v) { return typeof v === "number" ? v : null; }

  function periodLabel(p) {
    var m = /^(\d{4})-(\d{2})$/.exec(p || "");
    return m ? month.format(new Date(Date.UTC(+m[1], +m[2] - 1, 1))) : String(p);
  }
  function dateLabel(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || "");
    return m ? day.format(new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]))) : "–";
  }
  function groupLabel(g) { return TARGET_GROUPS[g] || String(g); }

  // ---- DOM helpers (text only, never HTML from the server) ------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  /** A figure as a node: "< 5" and "x" are explained to whoever hovers or reads them. */
  function figure(v, format) {
    if (isSuppressed(v)) {
      var why = v === SUPPRESSED ? "minder dan 5: te klein om te tonen"
        : "verborgen: anders is een kleine groep uit het totaal af te leiden";
      return el("abbr", { className: "suppressed", title: why, text: v });
    }
    return document.createTextNode(format(v));
  }

  function setFigure(node, v, format) {
    var before = node.textContent;
    node.replaceChildren(figure(v, format));
    if (before !== node.textContent && before !== "–") {
      node.classList.add("changed");
      setTimeout(function () { node.classList.remove("changed"); }, 1500);
    }
  }

  function cell(tag, v, format, extra) {
    var attrs = { className: "num" + (extra ? " " + extra : "") };
    if (tag === "th") attrs.scope = "row";
    return el(tag, attrs, [figure(v, format)]);
  }

  function fillBody(tbody, rows, columns, emptyText) {
    if (!rows || rows.length === 0) {
      tbody.replaceChildren(el("tr", {}, [el("td", { colspan: String(columns), className: "empty", text: emptyText })]));
      return;
    }
    tbody.replaceChildren.apply(tbody, rows);
  }

  // ---- charts ----------------------------------------------------------------------

  var charts = {};

  function chartDefaults() {
    if (!window.Chart) return false;
    Chart.defaults.locale = LOCALE;
    Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
    Chart.defaults.font.size = 13;
    Chart.defaults.color = "#4f5b6b";
    Chart.defaults.borderColor = "#e3e7ec";
    Chart.defaults.animation = false;  // updates must show at once
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.plugins.legend.labels.usePointStyle = true;
    Chart.defaults.plugins.legend.labels.pointStyle = "rectRounded";
    Chart.defaults.plugins.legend.labels.boxHeight = 10;
    return true;
  }

  /** Create the chart the first time, afterwards only swap its data. */
  function drawChart(id, config) {
    if (!window.Chart) return;
    var existing = charts[id];
    if (existing && existing.config.type === config.type) {
      existing.data.labels = config.data.labels;
      existing.data.datasets = config.data.datasets;
      existing.update("none");
      return;
    }
    if (existing) existing.destroy();
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function countTooltip(ctx) {
    var raw = ctx.dataset.raw ? ctx.dataset.raw[ctx.dataIndex] : ctx.parsed.y;
    return ctx.dataset.label + ": " + count(raw);
  }
  function rateTooltip(ctx) {
    var raw = ctx.dataset.raw ? ctx.dataset.raw[ctx.dataIndex] : ctx.parsed.x;
    return ctx.dataset.label + ": " + rate(raw);
  }

  function drawTrend(trend) {
    trend = trend || [];
    var suppressed = trend.filter(function (r) { return isSuppressed(r.enrolled) || isSuppressed(r.placed); }).length;
    var note = document.getElementById("trend-note");
    note.hidden = suppressed === 0;
    note.textContent = suppressed
      ? "Maanden met minder dan vijf personen zijn niet getekend (" + integer.format(suppressed) + ")."
      : "";
    function series(key, label, colour) {
      return {
        label: label, raw: trend.map(function (r) { return r[key]; }),
        data: trend.map(function (r) { return plotted(r[key]); }),
        backgroundColor: colour, borderRadius: 3, barPercentage: 0.9,
        // few months: narrow groups, not two slabs across the width
        categoryPercentage: Math.min(0.8, 0.12 + 0.08 * trend.length),
      };
    }
    drawChart("trend-chart", {
      type: "bar",
      data: {
        labels: trend.map(function (r) { return periodLabel(r.period); }),
        datasets: [series("enrolled", "Ingeschreven", COLOURS.enrolled), series("placed", "Geplaatst", COLOURS.placed)],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0, callback: function (v) { return integer.format(v); } } },
          x: { grid: { display: false } },
        },
        plugins: { legend: { position: "top", align: "end" }, tooltip: { callbacks: { label: countTooltip } } },
      },
    });
    fillBody(document.getElementById("trend-table"), trend.map(function (r) {
      return el("tr", {}, [
        el("th", { scope: "row", text: periodLabel(r.period) }),
        cell("td", r.enrolled, count), cell("td", r.placed, count),
      ]);
    }), 3, "Nog geen gegevens.");
  }

  function drawRates(id, rows, labelOf) {
    rows = rows || [];
    function series(key, label, colour) {
      return {
        label: label, raw: rows.map(function (r) { return r[key]; }),
        data: rows.map(function (r) { return plotted(r[key]); }),
        backgroundColor: colour, borderRadius: 3, maxBarThickness: 18,
      };
    }
    drawChart(id, {
      type: "bar",
      data: {
        labels: rows.map(labelOf),
        datasets: [series("outflow_rate", "Uitstroom", COLOURS.placed), series("sustained_6m_rate", "Duurzaam na 6 mnd", COLOURS.sustained)],
      },
      options: {
        indexAxis: "y",
        scales: {
          x: { min: 0, max: 1, ticks: { callback: function (v) { return percentAxis.format(v); } } },
          y: { grid: { display: false } },
        },
        plugins: { legend: { position: "top", align: "end" }, tooltip: { callbacks: { label: rateTooltip } } },
      },
    });
  }

  // ---- sections --------------------------------------------------------------------

  var TOTALS = {
    enrolled: count, placed: count, outflow_rate: rate, median_days_to_placement: days,
    ended_early: count, sustained_6m_rate: rate, sustained_12m_rate: rate,
  };

  function drawTotals(totals) {
    totals = totals || {};
    document.querySelectorAll("[data-total]").forEach(function (node) {
      var key = node.getAttribute("data-total");
      setFigure(node, totals[key], TOTALS[key] || count);
    });
  }

  function breakdownRows(rows, keyOf) {
    return (rows || []).map(function (r) {
      return el("tr", {}, [
        el("th", { scope: "row", text: keyOf(r) }),
        cell("td", r.enrolled, count), cell("td", r.placed, count), cell("td", r.outflow_rate, rate),
        cell("td", r.median_days_to_placement, days), cell("td", r.ended_early, count),
        cell("td", r.sustained_6m_rate, rate), cell("td", r.sustained_12m_rate, rate),
      ]);
    });
  }

  function drawBreakdowns(board) {
    var groups = board.by_target_group || [];
    var cohorts = board.by_cohort || [];
    var groupName = function (r) { return groupLabel(r.target_group); };
    var shortGroupName = function (r) { return SHORT_GROUPS[r.target_group] || groupLabel(r.target_group); };
    var cohortName = function (r) { return String(r.cohort); };
    drawRates("group-chart", groups, shortGroupName);
    drawRates("cohort-chart", cohorts, cohortName);
    fillBody(document.getElementById("group-table"), breakdownRows(groups, groupName), 8, "Nog geen gegevens.");
    fillBody(document.getElementById("cohort-table"), breakdownRows(cohorts, cohortName), 8, "Nog geen cohorten.");
  }

  /** Where the target should be by now if realised evenly over its period (0..1), or null. */
  function expectedShare(start, end, now) {
    var s = Date.parse(start), e = Date.parse(end);
    if (isNaN(s) || isNaN(e) || e <= s) return null;
    return Math.min(1, Math.max(0, (now - s) / (e - s)));
  }

  function targetStatus(share, expected, now, start) {
    if (expected === null || typeof share !== "number") return null;
    if (now < Date.parse(start)) return { text: "Nog niet begonnen", className: "neutral" };
    if (share >= 1) return { text: "Doel gehaald", className: "on-track" };
    return share + 0.005 >= expected
      ? { text: "Op schema", className: "on-track" }
      : { text: "Achter op schema", className: "behind" };
  }

  var targetNodes = {};

  function targetNode(t) {
    var id = "target-" + String(t.id).replace(/[^A-Za-z0-9_-]/g, "_");
    if (targetNodes[id]) return targetNodes[id];
    var refs = {
      title: el("h3", { id: id + "-titel" }),
      pill: el("span", { className: "pill" }),
      realised: el("strong"),
      of: el("span"),
      fill: el("div", { className: "fill" }),
      expected: el("div", { className: "expected", title: "verwacht naar verstreken tijd" }),
      period: el("p", { className: "target-period" }),
      canvas: el("canvas", { id: id + "-chart", role: "img" }),
    };
    refs.chartBox = el("div", { className: "chart chart-small" }, [refs.canvas]);
    refs.bar = el("div", { className: "bar", role: "progressbar", "aria-valuemin": "0", "aria-labelledby": id + "-titel" },
      [refs.fill, refs.expected]);
    refs.node = el("li", { className: "target" }, [
      el("div", { className: "target-head" }, [refs.title, refs.pill]),
      el("p", { className: "target-figures" }, [refs.realised, refs.of]),
      refs.bar,
      refs.period,
      refs.chartBox,
    ]);
    refs.chartId = id + "-chart";
    targetNodes[id] = refs;
    return refs;
  }

  function drawTargets(targets) {
    targets = targets || [];
    var list = document.getElementById("targets");
    var now = Date.now();
    var wanted = targets.map(function (t) {
      var r = targetNode(t);
      var share = typeof t.share === "number" ? t.share : null;
      var expected = expectedShare(t.start, t.end, now);
      var status = targetStatus(share, expected, now, t.start);
      r.title.textContent = t.label || t.id;
      r.pill.textContent = status ? status.text : "";
      r.pill.className = "pill " + (status ? status.className : "neutral");
      r.pill.hidden = !status;
      r.realised.replaceChildren(figure(t.realised, count));
      r.of.textContent = " van " + count(t.target) + (share === null ? "" : " (" + percent.format(share) + ")");
      r.fill.style.width = (share === null ? 0 : Math.min(1, share) * 100) + "%";
      r.expected.hidden = expected === null;
      if (expected !== null) r.expected.style.left = "calc(" + expected * 100 + "% - 1.5px)";
      if (typeof t.target === "number") r.bar.setAttribute("aria-valuemax", String(t.target));
      if (typeof t.realised === "number") r.bar.setAttribute("aria-valuenow", String(t.realised));
      r.bar.setAttribute("aria-valuetext", count(t.realised) + " van " + count(t.target)
        + (status ? ", " + status.text.toLowerCase() : ""));
      r.period.textContent = dateLabel(t.start) + " tot en met " + dateLabel(t.end);
      var trend = t.trend || [];
      r.chartBox.hidden = trend.length === 0;
      r.canvas.setAttribute("aria-label", "Gerealiseerd per maand voor " + (t.label || t.id) + ": "
        + trend.map(function (p) { return periodLabel(p.period) + " " + count(p.realised); }).join(", "));
      return r;
    });
    // keep nodes (and their charts) that stay; drop the ones that went
    Object.keys(targetNodes).forEach(function (id) {
      if (wanted.indexOf(targetNodes[id]) === -1) {
        if (charts[targetNodes[id].chartId]) { charts[targetNodes[id].chartId].destroy(); delete charts[targetNodes[id].chartId]; }
        delete targetNodes[id];
      }
    });
    if (wanted.length === 0) {
      list.replaceChildren(el("li", { className: "empty", text: "Er zijn nog geen doelen vastgelegd." }));
    } else {
      list.replaceChildren.apply(list, wanted.map(function (r) { return r.node; }));
    }
    targets.forEach(function (t, i) {
      var trend = t.trend || [];
      if (trend.length === 0) return;
      drawChart(wanted[i].chartId, {
        type: "line",
        data: {
          labels: trend.map(function (p) { return periodLabel(p.period); }),
          datasets: [{
            label: "Gerealiseerd", raw: trend.map(function (p) { return p.realised; }),
            data: trend.map(function (p) { return plotted(p.realised); }),
            borderColor: COLOURS.realised, backgroundColor: COLOURS.realised + "22", fill: true,
            pointRadius: 2, borderWidth: 2, cubicInterpolationMode: "monotone",
          }],
        },
        options: {
          plugins: { legend: { display: false }, tooltip: { callbacks: { label: countTooltip } } },
          scales: {
            x: { grid: { display: false }, ticks: { maxTicksLimit: 4, maxRotation: 0, font: { size: 11 } } },
            y: { beginAtZero: true, ticks: { precision: 0, maxTicksLimit: 4, font: { size: 11 },
              callback: function (v) { return integer.format(v); } } },
          },
        },
      });
    });
  }

  function drawAftercare(rows) {
    fillBody(document.getElementById("aftercare-table"), (rows || []).map(function (r) {
      var late = typeof r.overdue === "number" && r.overdue > 0;
      return el("tr", {}, [
        el("th", { scope: "row", text: r.organisation === "unassigned" ? "Nog niet toegewezen" : String(r.organisation) }),
        cell("td", r.open, count), cell("td", r.overdue, count, late ? "late" : ""),
      ]);
    }), 3, "Geen openstaande nazorgtaken.");
  }

  function drawFairness(rows) {
    fillBody(document.getElementById("fairness-table"), (rows || []).map(function (r) {
      var gap = typeof r.top_share === "number" && typeof r.pool_share === "number"
        ? (r.top_share - r.pool_share) * 100 : null;
      var gapCell = el("td", {
        className: "num" + (gap === null ? "" : gap < -5 ? " gap-neg" : gap > 5 ? " gap-pos" : ""),
        text: gap === null ? "–" : points.format(gap) + " pp",
      });
      return el("tr", {}, [
        el("th", { scope: "row", text: groupLabel(r.target_group) }),
        cell("td", r.top_share, rate), cell("td", r.pool_share, rate), gapCell,
      ]);
    }), 4, "Nog geen matches berekend.");
  }

  function render(board) {
    drawTotals(board.totals);
    drawTrend(board.trend);
    drawTargets(board.targets);
    drawBreakdowns(board);
    drawAftercare(board.aftercare);
    drawFairness(board.fairness);
    var asOf = board.as_of ? new Date(board.as_of) : null;
    document.getElementById("as-of").textContent = asOf && !isNaN(asOf) ? stamp.format(asOf) : "nog geen gebeurtenissen";
    document.getElementById("version").textContent = String(board.version);
    document.body.setAttribute("data-version", String(board.version));
  }

  // ---- live updates ----------------------------------------------------------------

  var shown = null;
  var timer = null;
  var running = false;
  var status = document.getElementById("status");
  var statusText = document.getElementById("status-text");

  function setStatus(state, text) {
    status.setAttribute("data-state", state);
    if (statusText.textContent !== text) statusText.textContent = text;
  }

  function getJSON(url) {
    var controller = new AbortController();
    var t = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    return fetch(url, { cache: "no-store", headers: { Accept: "application/json" }, signal: controller.signal })
      .then(function (res) {
        if (!res.ok) throw new Error(url + " answered " + res.status);
        return res.json();
      })
      .finally(function () { clearTimeout(t); });
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(tick, ms);
  }

  function tick() {
    if (running) return;
    running = true;
    getJSON("v1/board/version")
      .then(function (v) {
        if (v.version === shown) return false;
        return getJSON("v1/board").then(function (board) {
          // reporting may answer with a board a little older than the version (it computes
          // one at most twice a second): then the next poll asks again
          if (board.version === shown) return false;
          render(board);
          shown = board.version;
          return true;
        });
      })
      .then(function (changed) {
        if (changed || status.getAttribute("data-state") !== "live") {
          setStatus("live", "Live · bijgewerkt om " + clock.format(new Date()));
        }
        running = false;
        schedule(document.hidden ? HIDDEN_POLL_MS : POLL_MS);
      })
      .catch(function (err) {
        running = false;
        setStatus("offline", "Geen verbinding · opnieuw proberen…");
        if (window.console) console.warn("board update failed:", err);
        schedule(RETRY_MS);
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) schedule(0);
  });

  chartDefaults();
  tick();
})();
