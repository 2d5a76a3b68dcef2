/** A page init script: while `window.__holdSockets` is set, the page's new WebSockets fail to connect (resume tests). */
export const HOLD_SOCKETS = `(() => {
  const Original = WebSocket;
  const Held = function (url, protocols) { return new Original(window.__holdSockets ? 'ws://127.0.0.1:9/' : url, protocols); };
  Held.prototype = Original.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Held[k] = Original[k];
  window.WebSocket = Held;
})();`;
