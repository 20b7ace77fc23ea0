// Injected into both apps' index.html by web/vite.config.ts as a classic (non-module) script, so it still
// runs when the page is opened straight from disk. Browsers refuse module scripts and WebAssembly from
// file:// pages, which would leave a blank page; this says why and how to start the app instead.
(() => {
  if (location.protocol !== 'file:') return;
  var app = (document.documentElement.getAttribute('data-app') || 'catune').toLowerCase();
  var name = app === 'cadecon' ? 'CaDecon' : 'CaTune';
  function show() {
    var box = document.createElement('div');
    box.className = 'banner file-warning';
    box.setAttribute('role', 'alert');
    box.setAttribute('data-testid', 'file-warning');
    // biome-ignore format: one line per piece of the notice reads better than one per operand
    box.innerHTML =
      '<h2>' + name + ' cannot run from a file:// page</h2>' +
      '<p>Browsers do not load the app\u2019s scripts and its WebAssembly solver from files opened directly from disk. ' +
      'Serve this folder over http instead; nothing leaves your computer:</p>' +
      '<pre>calab app ' + app + '</pre>' +
      '<p>(from the calab Python package; it serves the bundled app on 127.0.0.1 and opens it), or, without Python\u2019s calab, ' +
      'any static server run in the folder that holds this index.html, for example</p>' +
      '<pre>python3 -m http.server 8000 --bind 127.0.0.1</pre>' +
      '<p>and then open <code>http://127.0.0.1:8000/</code>.</p>';
    document.body.insertBefore(box, document.body.firstChild);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', show);
  else show();
})();
