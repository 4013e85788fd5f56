// Cross-check helper for tests/crosscheck/test_qr_jsqr.py: reads PNG files with npm jsQR,
// a QR decoder no one here wrote (pure JavaScript, independent of zxing).
//
// usage:  node qr_jsqr.js PNG...
// stdout: {"jsqr": "1.x", "results": [{"file", "width", "height", "text", "version"}, ...]}
//         one result per argument, in order; text and version are null when jsQR finds no code.
// The Python test compares every text with the one the image was drawn from.
"use strict";
const fs = require("fs");
const path = require("path");
const { PNG } = require("pngjs");
const jsQR = require("jsqr");

function main() {
  const files = process.argv.slice(2);
  const results = files.map((file) => {
    // pngjs expands every colour type and bit depth (segno writes 1-bit greyscale) to RGBA
    const png = PNG.sync.read(fs.readFileSync(file));
    const rgba = new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length);
    const code = jsQR(rgba, png.width, png.height, { inversionAttempts: "dontInvert" });
    return {
      file: path.basename(file),
      width: png.width,
      height: png.height,
      text: code ? code.data : null,
      version: code ? code.version : null,
    };
  });
  const jsqrVersion = require("jsqr/package.json").version;
  process.stdout.write(JSON.stringify({ jsqr: jsqrVersion, results }));
}

try {
  main();
} catch (err) {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
}
