/* Drawn signature, as an extra: a canvas that writes SVG path data ("M x y L x y …") into a hidden
   field. Without JavaScript the pad stays hidden and signing works with the typed name alone; the
   pad is optional, so keyboard users simply skip it. No inline script (the CSP forbids it). */
(function () {
  "use strict";
  var MAX_LENGTH = 19000; // the server accepts up to 20 KB of path data

  function setUp(pad) {
    var canvas = pad.querySelector("canvas");
    var field = document.getElementById(pad.getAttribute("data-target"));
    var clear = pad.querySelector(".signing-pad__clear");
    if (!canvas || !field || !canvas.getContext) { return; }
    var context = canvas.getContext("2d");
    var path = "";
    var drawing = false;
    pad.hidden = false;

    context.lineWidth = 3;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#1a1a1a";

    function point(event) {
      var box = canvas.getBoundingClientRect();
      var x = Math.round((event.clientX - box.left) * canvas.width / box.width);
      var y = Math.round((event.clientY - box.top) * canvas.height / box.height);
      return [Math.max(0, Math.min(canvas.width, x)), Math.max(0, Math.min(canvas.height, y))];
    }

    function add(command, xy) {
      var part = (path ? " " : "") + command + xy[0] + " " + xy[1];
      if (path.length + part.length > MAX_LENGTH) { return false; }
      path += part;
      field.value = path;
      return true;
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      var xy = point(event);
      if (!add("M", xy)) { return; }
      drawing = true;
      if (canvas.setPointerCapture) { canvas.setPointerCapture(event.pointerId); }
      context.beginPath();
      context.moveTo(xy[0], xy[1]);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) { return; }
      event.preventDefault();
      var xy = point(event);
      if (!add("L", xy)) { drawing = false; return; }
      context.lineTo(xy[0], xy[1]);
      context.stroke();
    });
    function stop() { drawing = false; }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    canvas.addEventListener("pointerleave", stop);

    if (clear) {
      clear.addEventListener("click", function () {
        path = "";
        field.value = "";
        context.clearRect(0, 0, canvas.width, canvas.height);
      });
    }
  }

  var pads = document.querySelectorAll("[data-signature-pad]");
  for (var i = 0; i < pads.length; i += 1) { setUp(pads[i]); }
}());
