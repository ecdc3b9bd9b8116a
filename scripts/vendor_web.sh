#!/usr/bin/env bash
# Refresh the dashboard's vendored browser libraries from the npm registry (needs only `npm`
# to run this script; nothing here is needed to run or test the dashboard). Pin new versions
# below, run it, check the pages in a browser (tests/test_ui.py), commit gateway/web/vendor/.
set -euo pipefail
UPLOT=1.6.32
SWAGGER_UI=5.35.0
REDOC=2.5.2

cd "$(dirname "$0")/.."
vendor=gateway/web/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT" "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null)
unpack() { mkdir -p "$tmp/$1" && tar xzf "$tmp/$2" -C "$tmp/$1"; }
unpack uplot "uplot-$UPLOT.tgz"
unpack swagger "swagger-ui-dist-$SWAGGER_UI.tgz"
unpack redoc "redoc-$REDOC.tgz"

rm -rf "$vendor"/uplot-* "$vendor"/swagger-ui-dist-* "$vendor"/redoc-*
mkdir -p "$vendor/uplot-$UPLOT" "$vendor/swagger-ui-dist-$SWAGGER_UI" "$vendor/redoc-$REDOC"
cp "$tmp"/uplot/package/{LICENSE,dist/uPlot.iife.min.js,dist/uPlot.min.css} "$vendor/uplot-$UPLOT/"
cp "$tmp"/swagger/package/{LICENSE,NOTICE,swagger-ui-bundle.js,swagger-ui-bundle.js.LICENSE.txt,swagger-ui.css} \
  "$vendor/swagger-ui-dist-$SWAGGER_UI/"
cp "$tmp"/redoc/package/{LICENSE,bundles/redoc.standalone.js,bundles/redoc.standalone.js.LICENSE.txt} \
  "$vendor/redoc-$REDOC/"
# The source-map comments would make browsers' devtools ask for .map files we do not ship.
sed -i "s|//# sourceMappingURL=[^ ]*$||" "$vendor"/*/*.js
sed -i 's#/\*\# sourceMappingURL=[^*]*\*/##' "$vendor"/*/*.css
# ReDoc's sidebar shows Redocly's logo from their CDN; an empty data: image instead makes it
# hide itself (its onError), so /redoc sends no request to another origin.
sed -i 's#"https://cdn.redoc.ly/redoc/logo-mini.svg"#"data:,"#' "$vendor/redoc-$REDOC/redoc.standalone.js"
grep -q '"data:,"' "$vendor/redoc-$REDOC/redoc.standalone.js"
echo "vendored uplot $UPLOT, swagger-ui-dist $SWAGGER_UI, redoc $REDOC into $vendor"
