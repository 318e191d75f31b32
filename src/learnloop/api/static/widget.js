/*
 * learnloop widget: reports "viewed" and "clicked" for links that carry an impression id.
 *
 *   <script src="https://LEARNLOOP/v1/widget.js" defer></script>
 *   <a href="/kb/42" data-learnloop-impression="IMPRESSION_ID" data-learnloop-item="42"
 *      data-learnloop-rank="1">Reset your password</a>
 *
 * No dependencies and no API key: the impression id (unguessable, made by learnloop) names
 * the tenant. Events go to POST /v1/beacon with navigator.sendBeacon, so a click that leaves
 * the page still arrives. A link is reported viewed once, when it first shows on screen;
 * every click is its own event.
 *
 * Each event carries where it happened: page_context (the page's path and title) and
 * referrer, where the person came from: the link's data-learnloop-referrer, else the
 * script tag's data-referrer (e.g. "ai_chat", "search", "alert_page"), else the page's
 * document.referrer (origin and path only), else none. Funnels are grouped by it.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var endpoint = new URL("beacon", script ? script.src : window.location.href).href;
  var selector = "[data-learnloop-impression][data-learnloop-item]";
  var seen = typeof WeakSet === "function" ? new WeakSet() : null;

  function key() {
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function referrerOf(link) {
    var named = link.getAttribute("data-learnloop-referrer") ||
                (script && script.getAttribute("data-referrer"));
    if (named) { return named.slice(0, 2048); }
    if (!document.referrer) { return null; }
    try {
      var from = new URL(document.referrer);
      return (from.origin + from.pathname).slice(0, 2048);  // no query: it may hold ids
    } catch (e) { return null; }
  }

  function pageContext() {
    return { path: window.location.pathname.slice(0, 500),
             title: (document.title || "").slice(0, 200) };
  }

  function eventFor(link, type) {
    var event = {
      type: type,
      impression_id: link.getAttribute("data-learnloop-impression"),
      item_id: parseInt(link.getAttribute("data-learnloop-item"), 10),
      idempotency_key: type + "-" + key(),
      metadata: { page: window.location.pathname },
      page_context: pageContext()
    };
    var referrer = referrerOf(link);
    if (referrer) { event.referrer = referrer; }
    var rank = parseInt(link.getAttribute("data-learnloop-rank"), 10);
    if (!isNaN(rank)) { event.rank = rank; }
    return event;
  }

  function send(events) {
    var body = JSON.stringify({ events: events });
    // text/plain keeps the request "simple": no CORS preflight, and sendBeacon accepts it.
    var blob = new Blob([body], { type: "text/plain" });
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, blob)) { return; }
    fetch(endpoint, { method: "POST", body: body, keepalive: true, mode: "no-cors",
                      headers: { "Content-Type": "text/plain" } });
  }

  function viewed(links) {
    var events = [];
    links.forEach(function (link) {
      if (seen && seen.has(link)) { return; }
      if (seen) { seen.add(link); }
      events.push(eventFor(link, "viewed"));
    });
    if (events.length) { send(events); }
  }

  function watch() {
    var links = Array.prototype.slice.call(document.querySelectorAll(selector));
    if (!links.length) { return; }
    if (!("IntersectionObserver" in window)) { viewed(links); return; }
    var observer = new IntersectionObserver(function (entries) {
      var shown = entries.filter(function (e) { return e.isIntersecting; })
                         .map(function (e) { return e.target; });
      shown.forEach(function (link) { observer.unobserve(link); });
      viewed(shown);
    });
    links.forEach(function (link) { observer.observe(link); });
  }

  document.addEventListener("click", function (e) {
    var link = e.target && e.target.closest ? e.target.closest(selector) : null;
    if (link) { send([eventFor(link, "clicked")]); }
  }, true);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch);
  } else {
    watch();
  }
  window.learnloop = { track: function (link, type) { send([eventFor(link, type)]); } };
})();
