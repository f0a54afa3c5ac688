// Jaeger UI configuration for scripts/screenshot.sh (jaeger_query ui.config_file; Jaeger inlines
// this file into the UI's index.html). The UI keeps its default configuration. A trace page opened
// with uiFind opens the found span's details but collapses every branch that does not lead to it;
// once the timeline shows its rows, this clicks "Expand All" and the found span's Tags, so that the
// screenshot holds the whole trace and every attribute of the found span.
function UIConfig() {
  return null;
}

(function expandAllOnFind() {
  if (!/^\/trace\//.test(location.pathname) || !/[?&]uiFind=/.test(location.search)) {
    return;
  }
  var click = function (el) {
    el.dispatchEvent(new MouseEvent('click', { bubbles: true }));
  };
  var tries = 0;
  var timer = setInterval(function () {
    var collapser = document.querySelectorAll('.TimelineCollapser svg'); // +1, -1, all, none
    if (collapser.length === 4 && document.querySelector('.span-name')) {
      click(collapser[2]);
      var tags = document.querySelector('.AccordianKeyValues--header'); // the found span's Tags
      if (tags) {
        click(tags);
      }
      clearInterval(timer);
    } else if (++tries > 200) {
      clearInterval(timer);
    }
  }, 50);
})();
