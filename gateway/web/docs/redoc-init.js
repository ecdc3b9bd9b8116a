// ReDoc on the gateway's own OpenAPI document.
Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
